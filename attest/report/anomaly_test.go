package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest/report/internal/gen"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// generated writes a generated history and returns its directory, the
// bundle paths, what was planted, and a Verifier for its key.
func generated(t *testing.T, identities, jobs int) (string, []string, []gen.Planted, *verify.Verifier) {
	t.Helper()
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	planted, err := gen.Write(dir, privPEM, gen.Set{Identities: identities, Jobs: jobs, MinHistory: DefaultMinHistory})
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.sigstore.json"))
	if err != nil || len(paths) != jobs+1 {
		t.Fatalf("%d bundles written, %v", len(paths), err)
	}
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pubPEM, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	return dir, paths, planted, v
}

// Over a generated history of 20 identities, every planted anomaly (each
// kind at least once) is flagged, in the bundle it was planted in, and
// nothing else: the clean identities have none. The tampered bundle is
// rejected. The report is the same for any input order and worker count.
func TestAnomaliesOverGeneratedBundles(t *testing.T) {
	_, paths, planted, v := generated(t, 20, 500)
	kinds := map[string]bool{}
	for _, p := range planted {
		kinds[p.Kind] = true
	}
	for _, k := range []string{KindNewScope, KindNewProvider, KindNewRef, KindRunnerChange, KindUnusualHour, KindStale, KindNotRevoked, KindLongLifetime} {
		if !kinds[k] {
			t.Fatalf("the generator planted no %s", k)
		}
	}
	rep := Build(v, slices.Values(paths), Options{Workers: 3})
	if len(rep.Rejected) != 1 || filepath.Base(rep.Rejected[0].Name) != gen.Tampered {
		t.Errorf("rejected: %+v", rep.Rejected)
	}
	var flagged, want []string
	anomalous := 0
	for _, id := range rep.Identities {
		if len(id.Anomalies) > 0 {
			anomalous++
		}
		for _, a := range id.Anomalies {
			flagged = append(flagged, a.Kind+" "+filepath.Base(a.Bundle))
		}
	}
	for _, p := range planted {
		want = append(want, p.Kind+" "+p.Bundle)
	}
	slices.Sort(flagged)
	slices.Sort(want)
	if !slices.Equal(flagged, want) {
		t.Errorf("flagged:\n%s\nplanted:\n%s", strings.Join(flagged, "\n"), strings.Join(want, "\n"))
	}
	if len(rep.Identities) != 20 || anomalous != len(planted) || rep.Anomalies != len(planted) {
		t.Errorf("%d identities, %d with anomalies, %d anomalies; %d planted", len(rep.Identities), anomalous, rep.Anomalies, len(planted))
	}

	// Shuffled input, one worker: the same JSON.
	shuffled := slices.Clone(paths)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(Build(v, slices.Values(shuffled), Options{Workers: 1}))
	if !bytes.Equal(a, b) {
		t.Error("the report depends on the input order or the worker count")
	}

	// The table marks each anomaly; the page draws a timeline per
	// identity, the anomalous jobs as red dots.
	var table, page bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "\n  ! "); n != len(planted) {
		t.Errorf("table marks %d anomalies, want %d", n, len(planted))
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if strings.Count(html, `<svg class="timeline"`) != 20 || strings.Count(html, `<circle class="anomaly"`) != len(planted) ||
		strings.Count(html, `<circle class="job"`) != 500-len(planted) || strings.Contains(html, "<script") || strings.Contains(html, "http://") {
		t.Errorf("page: %d timelines, %d anomalous dots, %d other dots", strings.Count(html, `<svg class="timeline"`),
			strings.Count(html, `<circle class="anomaly"`), strings.Count(html, `<circle class="job"`))
	}
}

// The options move the lines: a longer --stale-after tolerates the
// planted silence, and a longer minimum history leaves usual hours and
// lifetimes unjudged.
func TestAnomalyOptions(t *testing.T) {
	_, paths, _, v := generated(t, 18, 180) // 10 jobs each; plants at job 7
	count := func(opts Options) map[string]int {
		n := map[string]int{}
		for _, id := range Build(v, slices.Values(paths), opts).Identities {
			for _, a := range id.Anomalies {
				n[a.Kind]++
			}
		}
		return n
	}
	base := count(Options{})
	if base[KindStale] == 0 || base[KindUnusualHour] == 0 || base[KindLongLifetime] == 0 || base[KindNewScope] == 0 {
		t.Fatalf("defaults: %v", base)
	}
	if n := count(Options{StaleAfter: 200 * 24 * time.Hour}); n[KindStale] != 0 || n[KindNewScope] != base[KindNewScope] {
		t.Errorf("stale after 200 days: %v", n)
	}
	if n := count(Options{MinHistory: 8}); n[KindUnusualHour] != 0 || n[KindLongLifetime] != 0 || n[KindNotRevoked] != base[KindNotRevoked] {
		t.Errorf("min history 8: %v", n)
	}
}

// The first job of an identity is never an anomaly, whatever it holds;
// its second is judged against it.
func TestNewIdentityIsNotAnomalous(t *testing.T) {
	_, paths, _, v := generated(t, 1, 8)
	rep := Build(v, slices.Values(paths[:1]), Options{})
	if rep.Anomalies != 0 {
		t.Errorf("a lone job: %+v", rep.Identities[0].Anomalies)
	}
}

func TestUsualHours(t *testing.T) {
	for _, c := range []struct {
		hours    []int
		from, to int
		usual    []int
		unusual  []int
	}{
		{[]int{9, 10, 11, 14, 15}, 9, 15, []int{8, 12, 16}, []int{3, 7, 17, 23}},
		{[]int{22, 23, 1}, 22, 1, []int{21, 0, 2}, []int{3, 12, 20}},
		{[]int{5}, 5, 5, []int{4, 5, 6}, []int{3, 7}},
		{[]int{0, 12}, 12, 0, []int{11, 13, 23, 1}, []int{2, 10}}, // ties: the first longest gap
	} {
		var h [24]int
		for _, x := range c.hours {
			h[x]++
		}
		from, to, ok := usualHours(&h)
		if !ok || from != c.from || to != c.to {
			t.Errorf("%v: %d..%d, want %d..%d", c.hours, from, to, c.from, c.to)
		}
		for _, x := range c.usual {
			if !inHours(x, from-hourSlack, to+hourSlack) {
				t.Errorf("%v: %d is unusual", c.hours, x)
			}
		}
		for _, x := range c.unusual {
			if inHours(x, from-hourSlack, to+hourSlack) {
				t.Errorf("%v: %d is usual", c.hours, x)
			}
		}
	}
}
