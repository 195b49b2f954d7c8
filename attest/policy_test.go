package attest

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyRules(t *testing.T) {
	// The example: db (vault) revoked, deploy (aws) expiry-bound with a
	// 15-minute TTL, repo-write (github) whose revocation failed, no expiry.
	pred := exampleJobPredicate()
	for _, tc := range []struct {
		name   string
		policy Policy
		check  string
		want   string // "" = pass
	}{
		{"revoked fails on the failed github grant", Policy{RequireRevoked: true}, CheckRequireRevoked,
			`grants[2] (scope "repo-write", provider github, principal acme/widgets) was not revoked: revocation failed: DELETE /installation/token: 503`},
		{"ttl bounds aws", Policy{MaxGrantTTL: 10 * time.Minute}, CheckMaxGrantTTL, `grants[1] (scope "deploy", provider aws`},
		{"ttl unbounded grant", Policy{MaxGrantTTL: time.Hour}, CheckMaxGrantTTL, `grants[2] (scope "repo-write", provider github, principal acme/widgets) has no expiry and was not revoked`},
		{"scopes", Policy{AllowScopes: []string{"db", "deploy"}}, CheckAllowedScopes, `scope "repo-write" is not allowed`},
		{"scopes pass", Policy{AllowScopes: []string{"db", "deploy", "repo-write"}}, CheckAllowedScopes, ""},
		{"providers", Policy{AllowProviders: []string{"vault"}}, CheckAllowedProvider, `provider "aws" is not allowed`},
		{"outcome", Policy{RequireOutcome: OutcomeFailure}, CheckRequireOutcome, `job outcome is "success", want "failure"`},
		{"outcome pass", Policy{RequireOutcome: OutcomeSuccess}, CheckRequireOutcome, ""},
	} {
		checks := tc.policy.evaluate(pred)
		if len(checks) != 1 || checks[0].name != tc.check {
			t.Fatalf("%s: checks %+v", tc.name, checks)
		}
		got := strings.Join(checks[0].violations, "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: violations %q, want %q", tc.name, got, tc.want)
		}
	}

	// Revoked everywhere it can be: the aws grant is exempt.
	pred.Grants = pred.Grants[:2]
	if v := (Policy{RequireRevoked: true}).evaluate(pred)[0].violations; len(v) != 0 {
		t.Errorf("revoked vault + expiry-bound aws: %v", v)
	}
	// A vault grant passed off as expiry-bound is a violation.
	exp := pred.Grants[0].ExpiresAt
	pred.Grants[0].Revocation = Revocation{Outcome: RevocationExpiry, ExpiresAt: &exp}
	if v := (Policy{RequireRevoked: true}).evaluate(pred)[0].violations; len(v) != 1 || !strings.Contains(v[0], "vault credentials can be revoked") {
		t.Errorf("vault grant left to expire: %v", v)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{MaxGrantTTL: -time.Second}, {RequireOutcome: "great"}, {AllowScopes: []string{""}}} {
		if err := p.validate(); err == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
	s := signExample(t)
	_, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest(), PredicateType: "https://example.com/other", Policy: Policy{RequireRevoked: true}})
	if err == nil || !strings.Contains(err.Error(), "policy rules apply to job attestations") {
		t.Errorf("policy on another predicate type: %v", err)
	}
}

func TestVerifyAppliesPolicy(t *testing.T) {
	s := signExample(t)
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest(),
		Policy: Policy{RequireRevoked: true, RequireOutcome: OutcomeSuccess}})
	wantFailure(t, res, err, CheckRequireRevoked)
	if c, _ := res.Check(CheckRequireOutcome); c.Verdict != VerdictPass {
		t.Errorf("requireOutcome = %+v, want pass (every rule is reported)", c)
	}
	res, err = Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest(),
		Policy: Policy{AllowScopes: []string{"db", "deploy", "repo-write"}}})
	if err != nil || !res.Verified {
		t.Fatalf("compliant bundle: %v", err)
	}
}

// The owner's rule sees each grant with the attested identity; a grant it
// refuses fails verification, named, and content stays unset.
func TestVerifyAppliesOwnerPolicy(t *testing.T) {
	s := signExample(t)
	var seen []string
	owner := func(id Identity, g Grant) string {
		seen = append(seen, id.Subject+" "+g.Scope)
		if g.Provider == "github" {
			return "github is not for this repository"
		}
		return ""
	}
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest(), Policy: Policy{OwnerPolicy: owner}})
	wantFailure(t, res, err, CheckOwnerPolicy)
	if c, _ := res.Check(CheckOwnerPolicy); !strings.Contains(c.Detail, `grants[2] (scope "repo-write", provider github, principal acme/widgets): github is not for this repository`) {
		t.Errorf("ownerPolicy check = %+v", c)
	}
	if res.Predicate != nil || res.Verified {
		t.Error("a refused bundle's content was returned")
	}
	pred := exampleJobPredicate()
	if len(seen) != 3 || seen[0] != pred.Identity.Subject+" db" {
		t.Errorf("the rule saw %q", seen)
	}
	res, err = Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest(),
		Policy: Policy{OwnerPolicy: func(Identity, Grant) string { return "" }}})
	if err != nil || !res.Verified {
		t.Fatalf("allowed by the owner: %v", err)
	}
	if c, _ := res.Check(CheckOwnerPolicy); c.Verdict != VerdictPass {
		t.Errorf("ownerPolicy = %+v, want pass", c)
	}
}
