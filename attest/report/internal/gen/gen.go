// Package gen writes signed job attestations for the report's tests and
// benchmark: a history per identity, every other identity with one planted
// anomaly of each kind in turn, and one tampered bundle. What it plants is
// returned, so that a test can compare it with what a report flags.
package gen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/chaperone-ci/chaperone/attest"

	"github.com/chaperone-ci/chaperone/attest/sign"
)

// Anomaly kinds as the report names them.
const (
	NewScope     = "new-scope"
	NewProvider  = "new-provider"
	NewRef       = "new-ref"
	RunnerChange = "runner-change"
	UnusualHour  = "unusual-hour"
	Stale        = "stale"
	NotRevoked   = "not-revoked"
	LongLifetime = "long-lifetime"
)

// plants are the anomalies planted in turn: not-revoked twice, as a failed
// revocation and as a revocable credential left to expire.
var plants = []string{NewScope, NewProvider, NewRef, RunnerChange, UnusualHour, Stale, NotRevoked, NotRevoked + "/expiry", LongLifetime}

// Planted is one anomaly put in a bundle.
type Planted struct {
	Kind   string `json:"kind"`
	Bundle string `json:"bundle"` // the file's base name
}

// Set says what to generate.
type Set struct {
	Identities int // at least 1
	Jobs       int // in all, spread evenly; at least 8 per identity
	// MinHistory is the report's: anomalies are planted after it.
	MinHistory int
}

// Tampered is the base name of the bundle whose payload changed after
// signing.
const Tampered = "tampered.sigstore.json"

// Write signs the set's bundles with the PEM private key into dir (which
// must exist) and returns what it planted. Even identities are clean:
// the same scopes, providers, ref and runner, daytime hours, steady
// lifetimes, every revocable credential revoked, a job every two days.
// Odd identities are the same but for one planted anomaly.
func Write(dir string, privPEM []byte, set Set) ([]Planted, error) {
	if set.Identities < 1 || set.Jobs/set.Identities < 8 || set.Jobs/set.Identities < set.MinHistory+3 {
		return nil, errors.New("gen: at least 8 jobs per identity, and 3 more than MinHistory")
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		return nil, err
	}
	type task struct {
		id, n, j int
		plant    string
	}
	var tasks []task
	var planted []Planted
	for id := range set.Identities {
		n := set.Jobs / set.Identities
		if id < set.Jobs%set.Identities {
			n++
		}
		plant := ""
		if id%2 == 1 {
			plant = plants[(id/2)%len(plants)]
		}
		for j := range n {
			t := task{id: id, n: n, j: j}
			if plant != "" && j == plantedJob(plant, n) {
				t.plant = plant
				kind := plant
				if kind == NotRevoked+"/expiry" {
					kind = NotRevoked
				}
				planted = append(planted, Planted{Kind: kind, Bundle: name(id, j)})
			}
			tasks = append(tasks, t)
		}
	}
	ch := make(chan task)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for t := range ch {
				b, err := bundle(kp, predicate(t.id, t.n, t.j, t.plant))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, name(t.id, t.j)), b, 0o644)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, t := range tasks {
		ch <- t
	}
	close(ch)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	// The tampered copy: a clean job whose runner environment changed
	// after signing.
	orig, err := os.ReadFile(filepath.Join(dir, name(0, 0)))
	if err != nil {
		return nil, err
	}
	tampered, err := tamper(orig)
	if err != nil {
		return nil, err
	}
	return planted, os.WriteFile(filepath.Join(dir, Tampered), tampered, 0o644)
}

func plantedJob(plant string, n int) int {
	if plant == Stale {
		return n - 1
	}
	return n - 3
}

func name(id, j int) string { return fmt.Sprintf("id%03d-job%03d.sigstore.json", id, j) }

// predicate is job j (of n) of identity id, with plant ("" for none).
func predicate(id, n, j int, plant string) *attest.JobPredicate {
	repo := fmt.Sprintf("acme/svc-%03d", id)
	issuer, subject, platform, runner := "https://token.actions.githubusercontent.com", "repo:"+repo+":ref:refs/heads/main", "github", "github-hosted"
	if id%5 == 4 {
		issuer, subject, platform, runner = "https://gitlab.com", "project_path:"+repo+":ref_type:branch:ref:main", "gitlab", "gitlab-hosted"
	}
	day := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 2*j+id%7)
	if plant == Stale {
		day = day.AddDate(0, 0, 120)
	}
	hour := 9 + (j*5)%9 // 9, 14, 10, 15, 11, 16, 12, 17, 13: the first five span the day
	if plant == UnusualHour {
		hour = 3
	}
	t0 := day.Add(time.Duration(hour)*time.Hour + time.Duration((id*7+j*13)%60)*time.Minute)
	runID := fmt.Sprintf("%d", 7000000+id*1000+j)
	runURI := fmt.Sprintf("https://github.com/%s/actions/runs/%s/attempts/1", repo, runID)
	ref := "refs/heads/main"
	if plant == NewRef {
		ref = "refs/heads/hotfix"
	}
	if plant == RunnerChange {
		runner = "self-hosted"
	}
	dbLife := 20 * time.Minute
	if plant == LongLifetime {
		dbLife = 12 * time.Hour
	}
	revokedAt := t0.Add(95 * time.Second)
	dbRev := attest.Revocation{Outcome: attest.RevocationRevoked, At: &revokedAt}
	switch plant {
	case NotRevoked:
		dbRev = attest.Revocation{Outcome: attest.RevocationFailed, Error: "PUT /v1/auth/token/revoke-self: 503 Service Unavailable"}
	case NotRevoked + "/expiry":
		exp := t0.Add(2*time.Second + dbLife)
		dbRev = attest.Revocation{Outcome: attest.RevocationExpiry, ExpiresAt: &exp}
	}
	// AWS reports its expiry to the second: a second's jitter is usual.
	awsExp := t0.Add(3*time.Second + 15*time.Minute + time.Duration(j%2)*time.Second)
	grants := []attest.Grant{
		{Scope: "db", Provider: "vault", Principal: "ci-" + repo, Fingerprint: hexSum(runURI + "db"),
			IssuedAt: t0.Add(2 * time.Second), ExpiresAt: t0.Add(2*time.Second + dbLife), Delivery: attest.DeliveryEnv, Revocation: dbRev},
		{Scope: "deploy", Provider: "aws", Principal: "arn:aws:iam::123456789012:role/" + repo, SessionName: "chaperone-" + runID,
			Fingerprint: hexSum(runURI + "aws"), IssuedAt: t0.Add(3 * time.Second), ExpiresAt: awsExp, Delivery: attest.DeliveryEnv,
			Revocation: attest.Revocation{Outcome: attest.RevocationExpiry, ExpiresAt: &awsExp}},
	}
	switch plant {
	case NewScope:
		grants = append(grants, attest.Grant{Scope: "db-admin", Provider: "vault", Principal: "ci-admin", Fingerprint: hexSum(runURI + "admin"),
			IssuedAt: t0.Add(4 * time.Second), ExpiresAt: t0.Add(4*time.Second + dbLife), Delivery: attest.DeliveryEnv,
			Revocation: attest.Revocation{Outcome: attest.RevocationRevoked, At: &revokedAt}})
	case NewProvider:
		exp := t0.Add(4*time.Second + time.Hour)
		grants = append(grants, attest.Grant{Scope: "deploy", Provider: "gcp", Principal: "deploy@acme.iam.gserviceaccount.com", Fingerprint: hexSum(runURI + "gcp"),
			IssuedAt: t0.Add(4 * time.Second), ExpiresAt: exp, Delivery: attest.DeliveryEnv,
			Revocation: attest.Revocation{Outcome: attest.RevocationExpiry, ExpiresAt: &exp}})
	}
	return &attest.JobPredicate{
		Agent:    attest.Agent{Name: "chaperone", Version: "v0.4.0"},
		Platform: platform,
		Job: attest.Job{RunURI: runURI, Repository: repo, Ref: ref, SHA: hexSum(runURI)[:40], Workflow: "release",
			RunID: runID, JobID: "build", Attempt: "1", RunnerEnvironment: runner},
		Identity: attest.Identity{Issuer: issuer, Subject: subject, Audiences: []string{"https://vault.example.com", "sts.amazonaws.com"},
			Claims: map[string]string{"repository": repo, "ref": ref, "runner_environment": runner}, TokenSHA256: []string{hexSum(runURI + "token")}},
		Grants: grants,
		Steps: []attest.Step{{Command: []string{"make", "release"}, Stage: "build", StartedAt: t0.Add(5 * time.Second),
			EndedAt: t0.Add(90 * time.Second), Redactions: j % 3}},
		Masking:   attest.Masking{Secrets: len(grants), Redactions: j % 3},
		Refused:   []attest.Refusal{},
		StartedAt: t0,
		EndedAt:   t0.Add(96 * time.Second),
		Outcome:   attest.OutcomeSuccess,
	}
}

func bundle(kp *sign.Keypair, pred *attest.JobPredicate) ([]byte, error) {
	st, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(pred.Job.RunURI)}, pred)
	if err != nil {
		return nil, err
	}
	return sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
}

// tamper changes a signed bundle's payload (its runner environment),
// keeping it well-formed: only the signature tells.
func tamper(b []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	var env map[string]any
	if err := json.Unmarshal(m["dsseEnvelope"], &env); err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(fmt.Sprint(env["payload"]))
	if err != nil {
		return nil, err
	}
	changed := bytes.ReplaceAll(payload, []byte(`"github-hosted"`), []byte(`"self-hosted"`))
	if bytes.Equal(changed, payload) {
		return nil, errors.New("gen: nothing to tamper with")
	}
	env["payload"] = base64.StdEncoding.EncodeToString(changed)
	if m["dsseEnvelope"], err = json.Marshal(env); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
