package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
)

func TestPolicyRules(t *testing.T) {
	// The example: db (vault) revoked, deploy (aws) expiry-bound with a
	// 15-minute TTL, repo-write (github) whose revocation failed, no expiry.
	pred := attesttest.JobPredicate()
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
		{"outcome", Policy{RequireOutcome: attest.OutcomeFailure}, CheckRequireOutcome, `job outcome is "success", want "failure"`},
		{"outcome pass", Policy{RequireOutcome: attest.OutcomeSuccess}, CheckRequireOutcome, ""},
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
	pred.Grants[0].Revocation = attest.Revocation{Outcome: attest.RevocationExpiry, ExpiresAt: &exp}
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
	_, err := NewVerifier(Options{PublicKeyPEM: publicKeyPEM(t), ArtifactDigest: attesttest.JobDigest(), PredicateType: "https://example.com/other", Policy: Policy{RequireRevoked: true}})
	if err == nil || !strings.Contains(err.Error(), "policy rules apply to job attestations") {
		t.Errorf("policy on another predicate type: %v", err)
	}
}

// publicKeyPEM is a fresh ECDSA P-256 public key in PEM.
func publicKeyPEM(t *testing.T) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
