package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/verify"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

// stack starts the devstack for one test. Its files live in a test
// directory so they outlive Close (tests that stop the stack early still
// sign with its key).
func stack(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	return devstacktest.Start(t, opts)
}

func envMap(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// newTestSession builds a Session on st's generated config, with config
// edits applied and the bundle written into the test's directory.
func newTestSession(t *testing.T, st *devstack.Stack, edits ...string) (*Session, *bytes.Buffer) {
	t.Helper()
	data, err := os.ReadFile(st.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("config has no %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	cfg, err := ParseConfig([]byte(text), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Attest.Output = filepath.Join(t.TempDir(), "job.sigstore.json")
	var log bytes.Buffer
	s, err := NewSession(Options{
		Config: cfg, Getenv: envMap(st.Env()), Environ: append([]string{"PATH=" + os.Getenv("PATH")}, st.Env()...),
		Log: &log, RetryDeadline: time.Second, Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &log
}

func run(t *testing.T, s *Session, script string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code, err := s.Run(context.Background(), []string{"sh", "-c", script}, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func verifyBundle(t *testing.T, st *devstack.Stack, sum *Summary) *attest.JobPredicate {
	t.Helper()
	b, err := attest.ReadBundleFile(sum.BundlePath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(st.PublicKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	d := attest.JobSubjectDigest(sum.Job.RunURI)
	res, err := verify.Bundle(b, verify.Options{PublicKeyPEM: pub, ArtifactDigest: &d})
	if err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
	for _, v := range st.Secrets() {
		if bytes.Contains(b, []byte(v)) {
			t.Errorf("bundle contains a secret value")
		}
	}
	return res.Predicate
}

func TestSessionGitHub(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := envMap(s.Environ())
	if env("ACTIONS_ID_TOKEN_REQUEST_TOKEN") != "" {
		t.Error("job environment has the OIDC request token")
	}
	if !contains(st.Secrets(), env("DB_PASSWORD")) {
		t.Errorf("DB_PASSWORD is not the seeded value")
	}
	if !strings.HasPrefix(env("GITHUB_TOKEN"), "ghs_") {
		t.Errorf("GITHUB_TOKEN is not an installation token")
	}
	out, code := run(t, s, `printf 'pw=%s\n' "$DB_PASSWORD"; printf 'gh=%s\n' "$GITHUB_TOKEN" >&2; exit 3`)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if strings.Count(out, "=***") != 2 || strings.Contains(out, env("DB_PASSWORD")) {
		t.Errorf("output not masked: %q", out)
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Credentials() {
		if !c.Revoked {
			t.Errorf("%s credential not revoked at the issuer", c.Provider)
		}
	}
	pred := verifyBundle(t, st, sum)
	if pred.Platform != PlatformGitHub || pred.Outcome != "failure" {
		t.Errorf("platform %q outcome %q", pred.Platform, pred.Outcome)
	}
	if len(pred.Steps) != 1 || pred.Steps[0].ExitCode != 3 || pred.Steps[0].Redactions != 2 {
		t.Errorf("steps = %+v", pred.Steps)
	}
	if pred.Identity.Issuer != st.IssuerURL || len(pred.Identity.TokenSHA256) == 0 {
		t.Errorf("identity = %+v", pred.Identity)
	}
	if !strings.Contains(pred.Job.RunURI, "/actions/runs/") {
		t.Errorf("run URI %q", pred.Job.RunURI)
	}
	for _, g := range pred.Grants {
		if g.Revocation.Outcome != attest.RevocationRevoked || g.Revocation.At == nil {
			t.Errorf("grant %s revocation %+v", g.Scope, g.Revocation)
		}
	}
}

func TestSessionGitLabAndFileDelivery(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab})
	s, _ := newTestSession(t, st, "    env: GITHUB_TOKEN\n", "    env: GITHUB_TOKEN\n    deliver: file\n")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := envMap(s.Environ())("GITHUB_TOKEN")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("delivered file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("delivered file mode %v", fi.Mode().Perm())
	}
	dirInfo, _ := os.Stat(filepath.Dir(filepath.Dir(path)))
	if dirInfo.Mode().Perm() != 0o700 {
		t.Errorf("delivery dir mode %v", dirInfo.Mode().Perm())
	}
	out, _ := run(t, s, `cat "$GITHUB_TOKEN"`)
	if out != "[MASKED]" { // GitLab's token
		t.Errorf("file content printed as %q, want the mask", out)
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("delivered file survives Stop: %v", err)
	}
	pred := verifyBundle(t, st, sum)
	if pred.Platform != PlatformGitLab || !strings.HasPrefix(pred.Identity.Subject, "project_path:") {
		t.Errorf("platform %q subject %q", pred.Platform, pred.Identity.Subject)
	}
	if pred.Job.RunURI == "" || pred.Job.RunURI != envMap(st.Env())("CI_JOB_URL") {
		t.Errorf("run URI %q, want CI_JOB_URL", pred.Job.RunURI)
	}
}

func TestSaveResumeStop(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	r, err := Resume(Options{StateDir: s.opts.StateDir, Getenv: envMap(st.Env()), Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	// The resumed session masks what the first one issued.
	if got := r.Masks().MaskString("x" + envMap(s.Environ())("DB_PASSWORD") + "x"); got != "x***x" {
		t.Errorf("resumed masker: %q", got)
	}
	r.cfg.Attest.Output = s.cfg.Attest.Output
	if _, err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Credentials() {
		if !c.Revoked {
			t.Errorf("%s credential not revoked after resume+stop", c.Provider)
		}
	}
	if _, err := os.Stat(s.opts.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir survives stop")
	}
}

func TestStartFailureRevokesEarlierGrants(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st, "identity: ci", "identity: nobody")
	err := s.Start(context.Background())
	var ae *AgentError
	if !errors.As(err, &ae) {
		t.Fatalf("Start = %v, want an AgentError", err)
	}
	if !strings.Contains(err.Error(), `scope "repo"`) {
		t.Errorf("error does not name the scope: %v", err)
	}
	creds := st.Credentials()
	if len(creds) != 1 || !creds[0].Revoked {
		t.Errorf("credentials after a failed start: %+v", creds)
	}
}

func TestRevocationFailureIsAttested(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close() // the issuers go away before the job ends
	sum, err := s.Stop(context.Background())
	var ae *AgentError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "revocation failed") {
		t.Fatalf("Stop = %v, want a revocation failure", err)
	}
	pred := verifyBundle(t, st, sum)
	if pred.Outcome != "agent-error" {
		t.Errorf("outcome %q", pred.Outcome)
	}
	for _, g := range pred.Grants {
		if g.Revocation.Outcome != attest.RevocationFailed || g.Revocation.Error == "" || g.Revocation.ExpiresAt == nil {
			t.Errorf("grant %s: %+v", g.Scope, g.Revocation)
		}
	}
}

func TestGitHubTokensReusedUntilNearExpiry(t *testing.T) {
	for _, tc := range []struct {
		ttl    time.Duration
		reused bool
	}{{5 * time.Minute, true}, {30 * time.Second, false}} {
		st := stack(t, devstack.Options{TokenTTL: tc.ttl})
		id, err := newIdentity(IdentityConfig{Source: "auto"}, envMap(st.Env()), nil, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		a, err := id.token(context.Background(), Scope{}, "aud-1")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // tokens are stamped in seconds
		b, err := id.token(context.Background(), Scope{}, "aud-1")
		if err != nil {
			t.Fatal(err)
		}
		if (a.raw == b.raw) != tc.reused {
			t.Errorf("ttl %v: token reused = %v, want %v", tc.ttl, a.raw == b.raw, tc.reused)
		}
		c, err := id.token(context.Background(), Scope{}, "aud-2")
		if err != nil {
			t.Fatal(err)
		}
		if c.raw == a.raw || !c.hasAudience("aud-2") {
			t.Errorf("a second audience did not get its own token")
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v && v != "" {
			return true
		}
	}
	return false
}

// TestEndpointRenewsShortLivedGrants runs a "job" three times longer than
// the GitHub token lifetime, reading the token through the endpoint's git
// route every half second: every token it gets works, the replaced ones are
// revoked, and the attestation lists each renewal.
func TestEndpointRenewsShortLivedGrants(t *testing.T) {
	st := stack(t, devstack.Options{GitHubTokenTTL: 2 * time.Second})
	s, _ := newTestSession(t, st, "    env: GITHUB_TOKEN\n", "    env: GITHUB_TOKEN\n    deliver: endpoint\n    ttl: 2s\n")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	env := envMap(s.Environ())
	if env("GITHUB_TOKEN") != "" || env("CHAPERONE_ENDPOINT") == "" {
		t.Fatalf("endpoint delivery put the token in env or no endpoint: %q", env("CHAPERONE_ENDPOINT"))
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, env("CHAPERONE_ENDPOINT")+"/git?host=github.com", nil)
		req.Header.Set("Authorization", "Bearer "+env("CHAPERONE_ENDPOINT_TOKEN"))
		var cred struct{ Password string }
		getJSONTest(t, req, &cred)
		if code := githubStatus(t, st, cred.Password); code != http.StatusOK {
			t.Fatalf("token served at %s is refused by the API: %d", time.Now().Format(time.StampMilli), code)
		}
		seen[cred.Password] = true
		time.Sleep(500 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Errorf("served %d distinct tokens over 3 lifetimes, want ≥ 3", len(seen))
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for tok := range seen {
		if githubStatus(t, st, tok) != http.StatusUnauthorized {
			t.Errorf("a served token still works after the job")
		}
	}
	pred := verifyBundle(t, st, sum)
	for _, g := range pred.Grants {
		if g.Scope != "repo" {
			continue
		}
		if len(g.Refreshes) != len(seen)-1 {
			t.Errorf("attested %d refreshes, served %d tokens", len(g.Refreshes), len(seen))
		}
		for _, r := range g.Refreshes {
			if r.Revocation == nil || r.Revocation.Outcome != attest.RevocationRevoked {
				t.Errorf("replaced credential not revoked: %+v", r.Revocation)
			}
		}
		if len(g.Fetches) < 10 {
			t.Errorf("usage record has %d fetches", len(g.Fetches))
		}
	}
}

func githubStatus(t *testing.T, st *devstack.Stack, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.GitHubAPIURL+"/installation/repositories", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSONTest(t *testing.T, req *http.Request, out any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", req.URL.Path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// Begin saves a started session, and stops a failed one: the failure is
// attested and nothing is left unrevoked.
func TestBeginSavesOrStops(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	if err := s.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.opts.StateDir, stateFile)); err != nil {
		t.Errorf("started session not saved: %v", err)
	}
	if _, err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A state directory that cannot be made: the grants are revoked (the
	// default stack's providers, vault and github, both revoke).
	s, _ = newTestSession(t, st)
	before := len(st.Credentials())
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.opts.StateDir = filepath.Join(blocker, "state")
	var agentErr *AgentError
	if err := s.Begin(context.Background()); !errors.As(err, &agentErr) {
		t.Fatalf("Begin with an unusable state dir: %v", err)
	}
	creds := st.Credentials()
	if len(creds) <= before {
		t.Fatal("Begin issued nothing: the test proves nothing")
	}
	for _, c := range creds[before:] {
		if !c.Revoked {
			t.Errorf("%s credential %s left unrevoked", c.Provider, c.ID)
		}
	}
}
