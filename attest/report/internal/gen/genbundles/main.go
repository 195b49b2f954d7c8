// Command genbundles writes a generated history of signed job
// attestations for scripts/bench-report.sh, and checks a report of it.
//
//	genbundles -out DIR [-identities N] [-jobs N] [-min-history N]
//	    writes DIR/key.pub, DIR/planted.json and DIR/bundles/*.sigstore.json
//	genbundles -check REPORT.json -planted DIR/planted.json
//	    prints "flagged F planted P matched M rejected R tampered-rejected T
//	    identities I" and exits 1
//	    unless every planted anomaly, and nothing else, was flagged
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chaperone-ci/chaperone/attest/internal/regularfile"
	"github.com/chaperone-ci/chaperone/attest/report/internal/gen"
	"github.com/chaperone-ci/chaperone/attest/sign"
)

func main() {
	out := flag.String("out", "", "directory to write into")
	identities := flag.Int("identities", 200, "identities")
	jobs := flag.Int("jobs", 10000, "jobs (bundles) in all")
	minHistory := flag.Int("min-history", 5, "the report's --min-history")
	check := flag.String("check", "", "a report's JSON to check")
	planted := flag.String("planted", "", "the planted.json to check it against")
	flag.Parse()
	var err error
	switch {
	case *check != "" && *planted != "":
		err = checkReport(*check, *planted)
	case *out != "":
		err = write(*out, gen.Set{Identities: *identities, Jobs: *jobs, MinHistory: *minHistory})
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genbundles:", err)
		os.Exit(1)
	}
}

func write(dir string, set gen.Set) error {
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		return err
	}
	bundles := filepath.Join(dir, "bundles")
	if err := os.MkdirAll(bundles, 0o755); err != nil {
		return err
	}
	planted, err := gen.Write(bundles, privPEM, set)
	if err != nil {
		return err
	}
	data, err := json.Marshal(planted)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "planted.json"), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pub"), pubPEM, 0o644)
}

func checkReport(reportPath, plantedPath string) error {
	var rep struct {
		Identities []struct {
			Anomalies []struct{ Kind, Bundle string }
		}
		Rejected []struct{ Name string }
	}
	var planted []gen.Planted
	for path, v := range map[string]any{reportPath: &rep, plantedPath: &planted} {
		data, err := regularfile.ReadFile(path, 1<<30)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	want := map[string]bool{}
	for _, p := range planted {
		want[p.Kind+" "+p.Bundle] = true
	}
	flagged, matched := 0, 0
	var extra []string
	for _, id := range rep.Identities {
		for _, a := range id.Anomalies {
			flagged++
			if k := a.Kind + " " + filepath.Base(a.Bundle); want[k] {
				matched++
			} else {
				extra = append(extra, k)
			}
		}
	}
	tampered := 0
	for _, r := range rep.Rejected {
		if filepath.Base(r.Name) == gen.Tampered {
			tampered++
		}
	}
	fmt.Printf("flagged %d planted %d matched %d rejected %d tampered-rejected %d identities %d\n", flagged, len(planted), matched, len(rep.Rejected), tampered, len(rep.Identities))
	if matched != len(planted) || len(extra) > 0 || tampered != 1 || len(rep.Rejected) != 1 {
		return fmt.Errorf("the report does not flag exactly what was planted (unplanted: %v)", extra)
	}
	return nil
}
