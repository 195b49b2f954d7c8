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
)

// printSummary writes the end-of-job summary: JSON on stdout with
// --format json, otherwise text on stderr (stdout belongs to the job).
func printSummary(c *cli.Context, sum *agent.Summary) {
	if c.String("format") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		_ = enc.Encode(summaryJSON(sum))
		return
	}
	writeSummaryText(c.App.ErrWriter, sum)
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
