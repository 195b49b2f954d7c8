package attest

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// reportBundles signs predicates with one key: edit changes each.
func reportBundles(t *testing.T, n int, edit func(i int, p *JobPredicate) []Subject) ([][]byte, []byte) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range n {
		pred := exampleJobPredicate()
		pred.Job.RunURI = exampleRunURI(i)
		subjects := edit(i, pred)
		if subjects == nil {
			subjects = []Subject{JobSubject(pred.Job.RunURI)}
		}
		st, err := NewStatement(PredicateTypeJob, subjects, pred)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Sign(context.Background(), st, kp, SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out, pubPEM
}

func TestReport(t *testing.T) {
	later := exampleJobPredicate().StartedAt.Add(time.Hour)
	bundles, pub := reportBundles(t, 5, func(i int, p *JobPredicate) []Subject {
		switch i {
		case 1: // another identity, one refused scope, a principal to escape in HTML
			p.Identity.Subject = "repo:acme/other:ref:refs/heads/main"
			p.Grants = p.Grants[:1]
			p.Grants[0].Principal = "<script>alert(1)</script>"
			p.Refused = []Refusal{{Scope: "prod-db", Reason: "policy"}}
			p.Outcome = OutcomeFailure
		case 2: // the first identity an hour later, with a refreshed credential
			p.StartedAt = later
			old := p.Grants[0].IssuedAt
			p.Grants[0].Refreshes = []Refresh{{Fingerprint: strings.Repeat("c", 64), IssuedAt: old, ExpiresAt: old.Add(time.Hour),
				Revocation: &Revocation{Outcome: RevocationFailed, Error: "503"}}}
		case 3: // signed, but not naming its own job
			return []Subject{{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}
		case 4: // the same subject from another issuer is another identity
			p.Identity.Issuer = "https://gitlab.example.com"
		}
		return nil
	})
	// A bundle whose payload changed after signing.
	tampered := editBundle(t, bundles[2], func(m map[string]any) {
		env := envelope(m)
		payload := []byte(env["payload"].(string))
		payload[10] ^= 1
		env["payload"] = string(payload)
	})
	v, err := NewVerifier(VerifyOptions{PublicKeyPEM: pub, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	for i, b := range [][]byte{bundles[0], bundles[1], bundles[2], bundles[3], bundles[4], tampered, bundles[0]} {
		res, err := v.Verify(b)
		rep.Add(string(rune('a'+i)), res, err)
	}
	rep.Sort()
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
	if widgets.Jobs != 2 || widgets.Outcomes[OutcomeSuccess] != 2 || len(widgets.Grants) != 3 ||
		!widgets.FirstJob.Equal(exampleJobPredicate().StartedAt) || !widgets.LastJob.Equal(later) {
		t.Errorf("widgets: %+v", widgets)
	}
	// The example: db revoked, deploy expiry-bound (15m), repo-write's
	// revocation failed and no expiry; twice each, and a refreshed db
	// credential (1h) whose revocation failed.
	byScope := map[string]*GrantReport{}
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
	if other.Jobs != 1 || other.Refused["prod-db"] != 1 || other.Outcomes[OutcomeFailure] != 1 || other.Redactions == 0 {
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

// exampleRunURI is the run URI reportBundles gives bundle i.
func exampleRunURI(i int) string {
	return strings.Replace(exampleJobPredicate().Job.RunURI, "/attempts/", "/attempts/1"+strings.Repeat("0", i), 1)
}

// A control character in a value does not forge a table line.
func TestReportTableQuotesControlCharacters(t *testing.T) {
	rep := Report{Identities: []*IdentityReport{{Issuer: "https://i", Subject: "repo:x\nidentity forged", Outcomes: map[string]int{}}}}
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
	pred := exampleJobPredicate()
	cert := func(issuer, repo string) *SignerInfo {
		return &SignerInfo{Kind: "certificate", Certificate: &certificate.Summary{Extensions: certificate.Extensions{Issuer: issuer, SourceRepositoryURI: repo}}}
	}
	for _, c := range []struct {
		signer *SignerInfo
		want   string
	}{
		{nil, ""},
		{&SignerInfo{Kind: "key"}, ""},
		{cert(pred.Identity.Issuer, "https://github.com/"+pred.Job.Repository), ""},
		{cert("https://gitlab.com", "https://github.com/"+pred.Job.Repository), "certificate for issuer https://gitlab.com"},
		{cert(pred.Identity.Issuer, "https://github.com/acme/other"), "signed by a workflow of https://github.com/acme/other"},
	} {
		if got := signerMismatch(c.signer, pred); c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.signer, got, c.want)
		}
	}
}
