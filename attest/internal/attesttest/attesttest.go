// Package attesttest holds the fixtures the attest packages' tests share:
// a realistic job predicate, a statement over it, and helpers to edit a
// bundle's JSON. It imports only attest, so the tests of every attest
// package can use it.
package attesttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
)

// RunURI is the run URI of JobPredicate's job.
const RunURI = "https://github.com/acme/widgets/actions/runs/9876543210/attempts/1"

// HexSHA256 is the lowercase hex SHA-256 of s.
func HexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// JobPredicate is a realistic predicate exercising every field: a revoked
// vault grant, an expiry-bound aws grant fetched from the endpoint, and a
// github grant whose revocation failed.
func JobPredicate() *attest.JobPredicate {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	revokedAt := t0.Add(95 * time.Second)
	awsExpiry := t0.Add(15 * time.Minute)
	return &attest.JobPredicate{
		Agent:    attest.Agent{Name: "chaperone", Version: "v0.4.0", Commit: "3f2a9c1"},
		Platform: "github",
		Job: attest.Job{
			RunURI:            RunURI,
			Repository:        "acme/widgets",
			Ref:               "refs/heads/main",
			SHA:               "8d1f4a7be0c3e9d2f6a5b4c3d2e1f0a9b8c7d6e5",
			Workflow:          "release",
			RunID:             "9876543210",
			JobID:             "build",
			Attempt:           "1",
			RunnerEnvironment: "github-hosted",
		},
		Identity: attest.Identity{
			Issuer:    "https://token.actions.githubusercontent.com",
			Subject:   "repo:acme/widgets:ref:refs/heads/main",
			Audiences: []string{"https://vault.example.com", "sts.amazonaws.com"},
			Claims: map[string]string{
				"repository":    "acme/widgets",
				"repository_id": "123456",
				"ref":           "refs/heads/main",
				"workflow_ref":  "acme/widgets/.github/workflows/release.yml@refs/heads/main",
			},
			TokenSHA256: []string{HexSHA256("token-for-vault"), HexSHA256("token-for-aws")},
		},
		Grants: []attest.Grant{
			{
				Scope:       "db",
				Provider:    "vault",
				Principal:   "ci-deploy",
				Fingerprint: HexSHA256("hvs.vault-token"),
				IssuedAt:    t0.Add(2 * time.Second),
				ExpiresAt:   t0.Add(20 * time.Minute),
				Delivery:    attest.DeliveryEnv,
				Revocation:  attest.Revocation{Outcome: attest.RevocationRevoked, At: &revokedAt},
			},
			{
				Scope:       "deploy",
				Provider:    "aws",
				Principal:   "arn:aws:iam::123456789012:role/deploy",
				SessionName: "chaperone-9876543210-1-build",
				Fingerprint: HexSHA256("ASIA-session-credentials"),
				IssuedAt:    t0.Add(3 * time.Second),
				ExpiresAt:   awsExpiry,
				Delivery:    attest.DeliveryEndpoint,
				Revocation:  attest.Revocation{Outcome: attest.RevocationExpiry, ExpiresAt: &awsExpiry},
				Fetches: []attest.Fetch{
					{At: t0.Add(10 * time.Second), PID: 4242, Executable: "/usr/local/bin/aws"},
					{At: t0.Add(70 * time.Second)},
				},
			},
			{
				Scope:       "repo-write",
				Provider:    "github",
				Principal:   "acme/widgets",
				Fingerprint: HexSHA256("ghs_installation-token"),
				IssuedAt:    t0.Add(4 * time.Second),
				Delivery:    attest.DeliveryFile,
				Revocation:  attest.Revocation{Outcome: attest.RevocationFailed, Error: "DELETE /installation/token: 503 Service Unavailable"},
			},
		},
		Steps: []attest.Step{{
			Command:    []string{"make", "release"},
			Stage:      "build",
			ExitCode:   0,
			StartedAt:  t0.Add(5 * time.Second),
			EndedAt:    t0.Add(90 * time.Second),
			Redactions: 3,
		}},
		Masking:   attest.Masking{Secrets: 4, Redactions: 5, DetectorHits: map[string]int{"github-token": 1, "jwt": 1}},
		Refused:   []attest.Refusal{{Scope: "prod-db", Reason: "policy: identity repo:acme/widgets:ref:refs/heads/main may not use scope prod-db"}},
		StartedAt: t0,
		EndedAt:   t0.Add(96 * time.Second),
		Outcome:   attest.OutcomeSuccess,
	}
}

// Statement is a statement over JobPredicate with the job subject and one
// file subject (dist/widgets.tar.gz, the SHA-256 of "widgets tarball").
func Statement(t testing.TB) ([]byte, []attest.Subject) {
	t.Helper()
	subjects := []attest.Subject{
		attest.JobSubject(RunURI),
		{Name: "dist/widgets.tar.gz", Digest: map[string]string{"sha256": HexSHA256("widgets tarball")}},
	}
	st, err := attest.NewStatement(attest.PredicateTypeJob, subjects, JobPredicate())
	if err != nil {
		t.Fatalf("NewStatement: %v", err)
	}
	return st, subjects
}

// JobDigest is the digest of the job subject of RunURI.
func JobDigest() *attest.Digest {
	d := attest.JobSubjectDigest(RunURI)
	return &d
}

// EditBundle decodes a bundle's JSON, lets f change it, and re-encodes it.
func EditBundle(t testing.TB, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Envelope is the DSSE envelope of a bundle decoded by EditBundle.
func Envelope(m map[string]any) map[string]any { return m["dsseEnvelope"].(map[string]any) }
