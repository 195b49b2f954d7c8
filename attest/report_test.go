package attest

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
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
		pred.Job.RunURI = strings.Replace(pred.Job.RunURI, "/attempts/", "/attempts/1"+strings.Repeat("0", i), 1)
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
	bundles, pub := reportBundles(t, 4, func(i int, p *JobPredicate) []Subject {
		switch i {
		case 1: // another identity, one refused scope, a principal to escape in HTML
			p.Identity.Subject = "repo:acme/other:ref:refs/heads/main"
			p.Grants = p.Grants[:1]
			p.Grants[0].Principal = "<script>alert(1)</script>"
			p.Refused = []Refusal{{Scope: "prod-db", Reason: "policy"}}
			p.Outcome = OutcomeFailure
		case 3: // signed, but not naming its own job
			return []Subject{{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}
		}
		return nil
	})
	tampered := bytes.Replace(bundles[2], []byte(`"sig"`), []byte(`"sig" `), 1)
	tampered = editBundle(t, tampered, func(m map[string]any) { envelope(m)["payloadType"] = "application/json" })
	v, err := NewVerifier(VerifyOptions{PublicKeyPEM: pub, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	for i, b := range [][]byte{bundles[0], bundles[1], bundles[2], bundles[3], tampered} {
		res, err := v.Verify(b)
		rep.Add(string(rune('a'+i)), res, err)
	}
	rep.Sort()
	if len(rep.Identities) != 2 || len(rep.Rejected) != 2 || rep.Rejected[0].Name != "d" || rep.Rejected[1].Name != "e" ||
		!strings.Contains(rep.Rejected[0].Reason, "do not name its own job") {
		t.Fatalf("identities %d, rejected %+v", len(rep.Identities), rep.Rejected)
	}
	other, widgets := rep.Identities[0], rep.Identities[1]
	if widgets.Jobs != 2 || widgets.Outcomes[OutcomeSuccess] != 2 || len(widgets.Grants) != 3 {
		t.Errorf("widgets: %+v", widgets)
	}
	// The example: db revoked, deploy expiry-bound (15m), repo-write's
	// revocation failed; twice each.
	byScope := map[string]*GrantReport{}
	for _, g := range widgets.Grants {
		byScope[g.Scope] = g
	}
	if g := byScope["db"]; g == nil || g.Issued != 2 || g.Revoked != 2 {
		t.Errorf("db: %+v", g)
	}
	if g := byScope["deploy"]; g == nil || g.Expired != 2 || g.MaxLifetime != 14*time.Minute+57*time.Second {
		t.Errorf("deploy: %+v", g)
	}
	if g := byScope["repo-write"]; g == nil || g.Failed != 2 {
		t.Errorf("repo-write: %+v", g)
	}
	if other.Jobs != 1 || other.Refused["prod-db"] != 1 || other.Outcomes[OutcomeFailure] != 1 {
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
