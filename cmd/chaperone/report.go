package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/attest/report"
	"github.com/chaperone-ci/chaperone/attest/verify"
	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "what each non-human identity did, across many job attestations (each verified first)",
		Description: `Verifies every BUNDLE given, every *.sigstore.json file under each DIR given,
and with --oci every job attestation stored in that REGISTRY/REPO,
with the signer flags of verify, and reports, by identity (issuer and subject):
jobs and outcomes, the credentials obtained per scope, provider and principal and
what became of them, refused scopes, and redactions; and anomalies, each job
judged against its identity's earlier jobs: a scope, provider, ref or runner
environment never used before, a start outside the usual hours, a silence
longer than --stale-after before the latest job, a revocable credential not
revoked, a credential living longer than usual (docs/report.md). Bundles are
verified in parallel, one at a time per core. A bundle that does not verify,
or does not name its own job as a subject, is listed and not counted; then
the exit status is 1. Anomalies do not change the exit status.`,
		ArgsUsage: "BUNDLE_OR_DIR...",
		Flags: append(signerFlags(),
			formatFlag("table", "table", "json", "html"),
			&cli.StringFlag{Name: "out", Usage: "write the report to this file (default stdout)"},
			&cli.StringFlag{Name: "stale-after", Value: "90d", EnvVars: []string{"CHAPERONE_STALE_AFTER"},
				Usage: "an identity silent longer than this before its latest job is an anomaly: days (90d) or a Go duration (2160h)"},
			&cli.IntFlag{Name: "min-history", Value: report.DefaultMinHistory, EnvVars: []string{"CHAPERONE_MIN_HISTORY"},
				Usage: "earlier jobs an identity needs before its usual hours and grant lifetimes are judged"},
			&cli.StringFlag{Name: "oci", EnvVars: []string{"CHAPERONE_REPORT_OCI"},
				Usage: "also report every job attestation stored in this REGISTRY/REPO (attest.oci: REGISTRY/REPO)"},
		),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			switch {
			case format != "table" && format != "json" && format != "html":
				return usagef("report: --format %q is not one of table, json, html", format)
			case c.NArg() == 0 && c.String("oci") == "":
				return usagef("report: no BUNDLE, DIR or --oci REGISTRY/REPO given")
			}
			if repo := c.String("oci"); repo != "" {
				if _, err := oci.ParseRepository(repo); err != nil {
					return usagef("report: --oci: %v", err)
				}
			}
			staleAfter, err := days(c.String("stale-after"))
			if err != nil || staleAfter <= 0 {
				return usagef("report: --stale-after %q is not a positive number of days (90d) or duration (2160h)", c.String("stale-after"))
			}
			if c.Int("min-history") < 1 {
				return usagef("report: --min-history must be at least 1")
			}
			opts := verify.Options{WithoutArtifactUnsafe: true} // Report.Add checks the job subject
			if err := signerOptions(c, &opts); err != nil {
				return err
			}
			v, err := verify.NewVerifier(opts)
			if err != nil {
				return usagef("report: %v", err)
			}
			paths, err := bundlePaths(c.Args().Slice())
			if err != nil {
				return usagef("report: %v", err)
			}
			inputs := report.Files(slices.Values(paths))
			if repo := c.String("oci"); repo != "" {
				inputs = concat(inputs, storedInputs(oci.List(c.Context, oci.WithRepository(repo))))
			}
			seen := 0
			counted := func(yield func(report.Input) bool) {
				for in := range inputs {
					seen++
					if !yield(in) {
						return
					}
				}
			}
			rep := report.BuildFrom(v, counted, report.Options{StaleAfter: staleAfter, MinHistory: c.Int("min-history")})
			var buf bytes.Buffer
			var w io.Writer = &buf
			switch format {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			case "html":
				err = rep.WriteHTML(w)
			default:
				err = rep.WriteTable(w)
			}
			if err != nil {
				return err
			}
			if out := c.String("out"); out != "" {
				if err := atomicfile.Write(out, buf.Bytes(), 0o644); err != nil {
					return usagef("report: --out: %v", err)
				}
			} else if _, err := c.App.Writer.Write(buf.Bytes()); err != nil {
				return err
			}
			if seen == 0 {
				return checkFailed{errors.New("report: no bundle found (files given, *.sigstore.json under the directories, or jobs in the --oci repository)")}
			}
			if n := len(rep.Rejected); n > 0 {
				return checkFailed{fmt.Errorf("report: %d of %d bundles rejected; first: %s: %s", n, seen, rep.Rejected[0].Name, oneLine(rep.Rejected[0].Reason))}
			}
			return nil
		},
	}
}

// storedInputs is an attestation repository's bundles as report inputs.
func storedInputs(stored iter.Seq[oci.Stored]) iter.Seq[report.Input] {
	return func(yield func(report.Input) bool) {
		for st := range stored {
			if !yield(report.Input{Name: st.Name, Read: st.Read}) {
				return
			}
		}
	}
}

// concat yields the inputs of a, then of b.
func concat(a, b iter.Seq[report.Input]) iter.Seq[report.Input] {
	return func(yield func(report.Input) bool) {
		for in := range a {
			if !yield(in) {
				return
			}
		}
		for in := range b {
			if !yield(in) {
				return
			}
		}
	}
}

// bundlePaths expands the arguments: files as given, directories to the
// *.sigstore.json files under them.
func bundlePaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			if !info.Mode().IsRegular() {
				return nil, fmt.Errorf("%s is not a regular file", a)
			}
			out = append(out, a)
			continue
		}
		root, err := filepath.EvalSymlinks(a) // WalkDir does not enter a symlinked root
		if err != nil {
			return nil, err
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".sigstore.json") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// days parses "90d" as days, anything else as a Go duration.
func days(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d > 100000 {
			return 0, fmt.Errorf("not a number of days: %q", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
