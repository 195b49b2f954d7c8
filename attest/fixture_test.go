package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

const testRunURI = "https://github.com/acme/widgets/actions/runs/9876543210/attempts/1"

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// exampleJobPredicate is a realistic predicate exercising every field.
func exampleJobPredicate() *JobPredicate {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	revokedAt := t0.Add(95 * time.Second)
	awsExpiry := t0.Add(15 * time.Minute)
	return &JobPredicate{
		Agent:    Agent{Name: "chaperone", Version: "v0.4.0", Commit: "3f2a9c1"},
		Platform: "github",
		Job: Job{
			RunURI:            testRunURI,
			Repository:        "acme/widgets",
			Ref:               "refs/heads/main",
			SHA:               "8d1f4a7be0c3e9d2f6a5b4c3d2e1f0a9b8c7d6e5",
			Workflow:          "release",
			RunID:             "9876543210",
			JobID:             "build",
			Attempt:           "1",
			RunnerEnvironment: "github-hosted",
		},
		Identity: Identity{
			Issuer:    "https://token.actions.githubusercontent.com",
			Subject:   "repo:acme/widgets:ref:refs/heads/main",
			Audiences: []string{"https://vault.example.com", "sts.amazonaws.com"},
			Claims: map[string]string{
				"repository":    "acme/widgets",
				"repository_id": "123456",
				"ref":           "refs/heads/main",
				"workflow_ref":  "acme/widgets/.github/workflows/release.yml@refs/heads/main",
			},
			TokenSHA256: []string{hexSHA256("token-for-vault"), hexSHA256("token-for-aws")},
		},
		Grants: []Grant{
			{
				Scope:       "db",
				Provider:    "vault",
				Principal:   "ci-deploy",
				Fingerprint: hexSHA256("hvs.vault-token"),
				IssuedAt:    t0.Add(2 * time.Second),
				ExpiresAt:   t0.Add(20 * time.Minute),
				Delivery:    DeliveryEnv,
				Revocation:  Revocation{Outcome: RevocationRevoked, At: &revokedAt},
			},
			{
				Scope:       "deploy",
				Provider:    "aws",
				Principal:   "arn:aws:iam::123456789012:role/deploy",
				SessionName: "chaperone-9876543210-1-build",
				Fingerprint: hexSHA256("ASIA-session-credentials"),
				IssuedAt:    t0.Add(3 * time.Second),
				ExpiresAt:   awsExpiry,
				Delivery:    DeliveryEndpoint,
				Revocation:  Revocation{Outcome: RevocationExpiry, ExpiresAt: &awsExpiry},
				Fetches: []Fetch{
					{At: t0.Add(10 * time.Second), PID: 4242, Executable: "/usr/local/bin/aws"},
					{At: t0.Add(70 * time.Second)},
				},
			},
			{
				Scope:       "repo-write",
				Provider:    "github",
				Principal:   "acme/widgets",
				Fingerprint: hexSHA256("ghs_installation-token"),
				IssuedAt:    t0.Add(4 * time.Second),
				Delivery:    DeliveryFile,
				Revocation:  Revocation{Outcome: RevocationFailed, Error: "DELETE /installation/token: 503 Service Unavailable"},
			},
		},
		Steps: []Step{{
			Command:    []string{"make", "release"},
			Stage:      "build",
			ExitCode:   0,
			StartedAt:  t0.Add(5 * time.Second),
			EndedAt:    t0.Add(90 * time.Second),
			Redactions: 3,
		}},
		Masking:   Masking{Secrets: 4, Redactions: 5, DetectorHits: map[string]int{"github-token": 1, "jwt": 1}},
		Refused:   []Refusal{{Scope: "prod-db", Reason: "policy: identity repo:acme/widgets:ref:refs/heads/main may not use scope prod-db"}},
		StartedAt: t0,
		EndedAt:   t0.Add(96 * time.Second),
		Outcome:   OutcomeSuccess,
	}
}

// exampleStatement is a statement over the example predicate with the job
// subject and one file subject.
func exampleStatement(t *testing.T) ([]byte, []Subject) {
	t.Helper()
	subjects := []Subject{
		JobSubject(testRunURI),
		{Name: "dist/widgets.tar.gz", Digest: map[string]string{"sha256": hexSHA256("widgets tarball")}},
	}
	st, err := NewStatement(PredicateTypeJob, subjects, exampleJobPredicate())
	if err != nil {
		t.Fatalf("NewStatement: %v", err)
	}
	return st, subjects
}
