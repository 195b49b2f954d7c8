package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"

	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// reportBundles signs predicates with one key: edit changes each.
func reportBundles(t *testing.T, n int, edit func(i int, p *attest.JobPredicate) []attest.Subject) ([][]byte, []byte) {
	t.Helper()
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range n {
		pred := attesttest.JobPredicate()
		pred.Job.RunURI = exampleRunURI(i)
		subjects := edit(i, pred)
		if subjects == nil {
			subjects = []attest.Subject{attest.JobSubject(pred.Job.RunURI)}
		}
		st, err := attest.NewStatement(attest.PredicateTypeJob, subjects, pred)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out, pubPEM
}

func TestReport(t *testing.T) {
	later := attesttest.JobPredicate().StartedAt.Add(time.Hour)
	bundles, pub := reportBundles(t, 5, func(i int, p *attest.JobPredicate) []attest.Subject {
		switch i {
		case 1: // another identity, one refused scope, a principal to escape in HTML
			p.Identity.Subject = "repo:acme/other:ref:refs/heads/main"
			p.Grants = p.Grants[:1]
			p.Grants[0].Principal = "<script>alert(1)</script>"
			p.Refused = []attest.Refusal{{Scope: "prod-db", Reason: "policy"}}
			p.Outcome = attest.OutcomeFailure
		case 2: // the first identity an hour later, with a refreshed credential
			p.StartedAt = later
			old := p.Grants[0].IssuedAt
			p.Grants[0].Refreshes = []attest.Refresh{{Fingerprint: strings.Repeat("c", 64), IssuedAt: old, ExpiresAt: old.Add(time.Hour),
				Revocation: &attest.Revocation{Outcome: attest.RevocationFailed, Error: "503"}}}
		case 3: // signed, but not naming its own job
			return []attest.Subject{{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}
		case 4: // the same subject from another issuer is another identity
			p.Identity.Issuer = "https://gitlab.example.com"
		}
		return nil
	})
	// A bundle whose payload changed after signing.
	tampered := attesttest.EditBundle(t, bundles[2], func(m map[string]any) {
		env := attesttest.Envelope(m)
		payload := []byte(env["payload"].(string))
		payload[10] ^= 1
		env["payload"] = string(payload)
	})
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pub, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	for i, b := range [][]byte{bundles[0], bundles[1], bundles[2], bundles[3], bundles[4], tampered, bundles[0]} {
		res, err := v.Verify(b)
		rep.Add(string(rune('a'+i)), res, err)
	}
	rep.Finish()
	var rejected []string
	for _, r := range rep.Rejected {
		rejected = append(rejected, r.Name+": "+r.Reason)
	}
	if len(rep.Identities) != 3 || len(rep.Rejected) != 3 || !strings.Contains(rejected[0], "d: its subjects do not name its own job") ||
		!strings.Contains(rejected[1], "f: ") || !strings.Contains(rejected[2], "g: a job of "+exampleRunURI(0)+" already counted, from a") {
		t.Fatalf("identities %d, rejected:\n%s", len(rep.Identities), strings.Join(rejected, "\n"))
	}
	gitlab, other, widgets := rep.Identities[0], rep.Identities[1], rep.Identities[2]
	if gitlab.Issuer != "https://gitlab.example.com" || gitlab.Jobs != 1 {
		t.Errorf("identities are not keyed by issuer: %+v", gitlab)
	}
	if widgets.Jobs != 2 || widgets.Outcomes[attest.OutcomeSuccess] != 2 || len(widgets.Grants) != 3 ||
		!widgets.FirstJob.Equal(attesttest.JobPredicate().StartedAt) || !widgets.LastJob.Equal(later) {
		t.Errorf("widgets: %+v", widgets)
	}
	// The example: db revoked, deploy expiry-bound (15m), repo-write's
	// revocation failed and no expiry; twice each, and a refreshed db
	// credential (1h) whose revocation failed.
	byScope := map[string]*Grant{}
	for _, g := range widgets.Grants {
		byScope[g.Scope] = g
	}
	if g := byScope["db"]; g == nil || g.Issued != 2 || g.Revoked != 2 || g.Refreshes != 1 || g.Failed != 1 || g.MaxLifetime != time.Hour {
		t.Errorf("db: %+v", g)
	}
	if g := byScope["deploy"]; g == nil || g.Expired != 2 || g.MaxLifetime != 14*time.Minute+57*time.Second || g.Fetches == 0 {
		t.Errorf("deploy: %+v", g)
	}
	if g := byScope["repo-write"]; g == nil || g.Failed != 2 || g.Unbounded != 2 {
		t.Errorf("repo-write: %+v", g)
	}
	if other.Jobs != 1 || other.Refused["prod-db"] != 1 || other.Outcomes[attest.OutcomeFailure] != 1 || other.Redactions == 0 {
		t.Errorf("other: %+v", other)
	}

	var table, page bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "identity repo:acme/other:ref:refs/heads/main") || !regexp.MustCompile(`refused +prod-db 1\n`).MatchString(table.String()) {
		t.Errorf("table:\n%s", table.String())
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>alert") || !strings.Contains(page.String(), "&lt;script&gt;") {
		t.Errorf("HTML does not escape a principal")
	}
}

// Build reads, verifies and counts bundle files; an unreadable file is
// rejected, and an empty report still encodes its lists as arrays.
func TestBuild(t *testing.T) {
	bundles, pub := reportBundles(t, 2, func(int, *attest.JobPredicate) []attest.Subject { return nil })
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pub, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for i, b := range bundles {
		p := filepath.Join(dir, string(rune('a'+i))+".sigstore.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	missing := filepath.Join(dir, "missing.sigstore.json")
	rep := Build(v, slices.Values(append([]string{missing}, paths...)), Options{})
	if len(rep.Identities) != 1 || rep.Identities[0].Jobs != 2 || len(rep.Rejected) != 1 || rep.Rejected[0].Name != missing {
		t.Fatalf("report: %+v, rejected %+v", rep.Identities, rep.Rejected)
	}
	out, err := json.Marshal(Build(v, slices.Values([]string(nil)), Options{}))
	if err != nil || !strings.Contains(string(out), `"identities":[]`) || !strings.Contains(string(out), `"rejected":[]`) {
		t.Errorf("empty report: %s, %v", out, err)
	}
}

// exampleRunURI is the run URI reportBundles gives bundle i.
func exampleRunURI(i int) string {
	return strings.Replace(attesttest.JobPredicate().Job.RunURI, "/attempts/", "/attempts/1"+strings.Repeat("0", i), 1)
}

// A control character in a value does not forge a table line.
func TestReportTableQuotesControlCharacters(t *testing.T) {
	rep := Report{Identities: []*Identity{{Issuer: "https://i", Subject: "repo:x\nidentity forged", Outcomes: map[string]int{}}}}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table.String(), "\nidentity forged") {
		t.Errorf("table:\n%s", table.String())
	}
}

// A keyless bundle counts only if its certificate is the job's own: the
// same OIDC issuer, a workflow of the job's repository.
func TestReportSignerMustBeTheJobs(t *testing.T) {
	pred := attesttest.JobPredicate()
	cert := func(issuer, repo string) *verify.SignerInfo {
		return &verify.SignerInfo{Kind: "certificate", Certificate: &certificate.Summary{Extensions: certificate.Extensions{Issuer: issuer, SourceRepositoryURI: repo}}}
	}
	for _, c := range []struct {
		signer *verify.SignerInfo
		want   string
	}{
		{nil, ""},
		{&verify.SignerInfo{Kind: "key"}, ""},
		{cert(pred.Identity.Issuer, "https://github.com/"+pred.Job.Repository), ""},
		{cert("https://gitlab.com", "https://github.com/"+pred.Job.Repository), "certificate for issuer https://gitlab.com"},
		{cert(pred.Identity.Issuer, "https://github.com/acme/other"), "signed by a workflow of https://github.com/acme/other"},
	} {
		if got := signerMismatch(c.signer, pred); c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.signer, got, c.want)
		}
	}
}
