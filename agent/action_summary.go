package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
)

// stepSummary renders the post step's job summary (GitHub-flavoured
// Markdown): the identity, a table with one row per grant (scope,
// provider, principal, lifetime, revocation outcome), the outcome, and the
// bundle with the commands that verify it. bundle is the bundle's path as
// later steps see it ("" when none was written); stopErr is what Stop
// reported. Every value is scrubbed of secrets and escaped for its cell.
func (s *Session) stepSummary(sum *Summary, bundle string, stopErr error) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("### chaperone")
	line("")
	line("Identity **%s** (issuer %s)", s.mdText(sum.Identity.Subject), s.mdText(sum.Identity.Issuer))
	line("")
	line("| Scope | Provider | Principal | Lifetime | Revocation |")
	line("|---|---|---|---|---|")
	for _, g := range sum.Grants {
		line("| %s | %s | %s | %s | %s |", s.mdCell(g.Scope), s.mdCell(g.Provider), s.mdCell(g.Principal),
			s.mdCell(lifetimeText(g)), s.mdCell(revocationOutcome(g.Revocation)))
	}
	line("")
	line("Outcome: **%s**", s.mdText(sum.Outcome))
	if stopErr != nil {
		line("")
		line("> [!CAUTION]")
		line("> %s", s.mdText(stopErr.Error()))
	}
	line("")
	if bundle == "" {
		line("No attestation was written.")
		return b.String()
	}
	digest := "sha256:" + sum.JobSubject.Digest["sha256"]
	line("Attestation: `%s` (job subject `%s`). Verify it with:", s.mdCode(bundle), digest)
	line("")
	line("```sh")
	for _, cmd := range s.verifyCommands(sum, bundle) {
		line("%s", s.scrub(cmd))
	}
	line("```")
	return b.String()
}

// verifyCommands are the chaperone and cosign commands that verify bundle,
// for the configured signer.
func (s *Session) verifyCommands(sum *Summary, bundle string) []string {
	digest := sum.JobSubject.Digest["sha256"]
	signer := s.cfg.Attest.Signer
	var who, cosignWho string
	switch {
	case strings.HasPrefix(signer, "kms:"):
		key := shellQuote(strings.TrimPrefix(signer, "kms:"))
		who, cosignWho = "--key "+key, "--key "+key+" --insecure-ignore-tlog"
	case strings.HasPrefix(signer, "key:"):
		// The public half of the signing key, which the job does not have.
		who, cosignWho = "--key cosign.pub", "--key cosign.pub --insecure-ignore-tlog --trusted-root empty-root.json"
	default: // keyless
		identity := "--certificate-identity " + shellQuote("https://github.com/"+sum.Identity.Claims["job_workflow_ref"]) +
			" --certificate-oidc-issuer " + shellQuote(sum.Identity.Issuer)
		who = "--trusted-root trusted-root.json " + identity
		cosignWho = "--trusted-root trusted-root.json " + identity + " --use-signed-timestamps --insecure-ignore-tlog --insecure-ignore-sct"
	}
	return []string{
		fmt.Sprintf("chaperone verify %s %s --digest sha256:%s", shellQuote(bundle), who, digest),
		fmt.Sprintf("cosign verify-blob-attestation --new-bundle-format --bundle %s %s --type %s --digest %s --digestAlg sha256",
			shellQuote(bundle), cosignWho, attest.PredicateTypeJob, digest),
	}
}

// lifetimeText is how long a grant's credential was issued for.
func lifetimeText(g attest.Grant) string {
	if g.ExpiresAt.IsZero() {
		return "no expiry recorded"
	}
	return fmt.Sprintf("%s (until %s)", g.ExpiresAt.Sub(g.IssuedAt).Round(time.Second), g.ExpiresAt.UTC().Format(time.RFC3339))
}

// revocationOutcome says what became of a grant at the end of the job.
func revocationOutcome(r attest.Revocation) string {
	switch r.Outcome {
	case attest.RevocationRevoked:
		if r.At != nil {
			return "revoked at " + r.At.UTC().Format(time.RFC3339)
		}
		return "revoked"
	case attest.RevocationExpiry:
		return "not revocable: expires with its lifetime"
	case attest.RevocationFailed:
		return "**revocation failed**: " + r.Error
	}
	return "not settled"
}

// mdText scrubs v and makes it inert Markdown text: one line, no markup,
// no HTML.
func (s *Session) mdText(v string) string {
	v = strings.Join(strings.Fields(s.scrub(v)), " ")
	var b strings.Builder
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		if strings.ContainsRune("\\`*_[]<>|~&", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCell is mdText for a table cell; bold markup of ours is kept.
func (s *Session) mdCell(v string) string {
	if rest, ok := strings.CutPrefix(v, "**revocation failed**: "); ok {
		return "**revocation failed**: " + s.mdText(rest)
	}
	return s.mdText(v)
}

// mdCode scrubs v for a code span (no backticks, one line).
func (s *Session) mdCode(v string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s.scrub(v))
}

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
