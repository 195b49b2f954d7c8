package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// summaryFileFlag is --summary-file, taken by every command that ends a
// session (run, stop, gitlab cleanup).
func summaryFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "summary-file", EnvVars: []string{"CHAPERONE_SUMMARY_FILE"},
		Usage: "write the end-of-job summary as JSON to this file (instead of printing it with --format json)"}
}

// printSummary reports the end-of-job summary. With --summary-file F the
// JSON summary is written to F (whole, replacing F); without it, --format
// json prints it to jsonOut, which is never the job's own output: run passes
// stderr (its stdout is the command's), stop and gitlab cleanup pass stdout.
// With --format text the text summary goes to stderr, file or not. Only a
// summary file that cannot be written is an error: a reader of stdout or
// stderr that went away does not fail the job.
func printSummary(c *cli.Context, sum *agent.Summary, jsonOut io.Writer) error {
	asJSON := c.String("format") == "json"
	if !asJSON {
		writeSummaryText(c.App.ErrWriter, sum)
	}
	if path := c.String("summary-file"); path != "" {
		data, err := json.MarshalIndent(summaryJSON(sum), "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(path, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("--summary-file: %w", err)
		}
		return nil
	}
	if asJSON {
		enc := json.NewEncoder(jsonOut)
		enc.SetIndent("", "  ")
		_ = enc.Encode(summaryJSON(sum))
	}
	return nil
}

func summaryJSON(sum *agent.Summary) map[string]any {
	return map[string]any{
		"platform":   sum.Platform,
		"job":        sum.Job,
		"identity":   sum.Identity,
		"grants":     sum.Grants,
		"steps":      sum.Steps,
		"outcome":    sum.Outcome,
		"bundle":     sum.BundlePath,
		"jobSubject": sum.JobSubject,
		"redactions": sum.Redactions,
	}
}

func writeSummaryText(w io.Writer, sum *agent.Summary) {
	fmt.Fprintf(w, "chaperone: identity %s (issuer %s)\n", sum.Identity.Subject, sum.Identity.Issuer)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range sum.Grants {
		fmt.Fprintf(tw, "chaperone:   scope %s\t%s\t%s\t%s\n", g.Scope, g.Provider, g.Principal, revocationText(g.Revocation))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "chaperone: outcome %s, %d redactions\n", sum.Outcome, sum.Redactions)
	if sum.BundlePath != "" {
		fmt.Fprintf(w, "chaperone: attestation %s (job subject sha256:%s)\n", sum.BundlePath, sum.JobSubject.Digest["sha256"])
	}
}

func revocationText(r attest.Revocation) string {
	switch r.Outcome {
	case attest.RevocationRevoked:
		if r.At != nil {
			return "revoked at " + r.At.Format(time.RFC3339)
		}
		return "revoked"
	case attest.RevocationExpiry:
		if r.ExpiresAt != nil {
			return "not revocable, expires " + r.ExpiresAt.Format(time.RFC3339)
		}
		return "not revocable"
	case attest.RevocationFailed:
		return "REVOCATION FAILED: " + r.Error
	}
	return strings.TrimSpace("pending " + r.Outcome)
}
