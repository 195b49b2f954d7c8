package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
)

// bundlePredicate decodes the job predicate of a bundle file (no
// verification: tests that need it run chaperone verify or cosign).
func bundlePredicate(t *testing.T, path string) attest.JobPredicate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate attest.JobPredicate `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	return st.Predicate
}

// revocable are the devstack providers whose credentials can be revoked;
// the others (aws, gcp, azure) are bounded by expiry.
var revocable = map[string]bool{"vault": true, "github": true, "token-exchange": true}

// assertRevoked checks, at the issuers, that every revocable credential the
// run obtained is revoked. ownTokens counts the Vault tokens the test itself
// obtained (seededSecrets) and left alone.
func assertRevoked(t *testing.T, ds *devstack, ownTokens int) {
	t.Helper()
	open, revoked := 0, 0
	for _, c := range ds.credentials(t) {
		switch {
		case !revocable[c.Provider]:
		case c.Revoked:
			revoked++
		default:
			open++
		}
	}
	if open != ownTokens || revoked < 3 {
		t.Errorf("devstack: %d revocable credentials revoked, %d not; want ≥ 3 revoked and exactly %d not", revoked, open, ownTokens)
	}
}

func TestRunMasksEnvAndRevokes(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	r := chaperone(t, dir, ds.environ(), "run", "--", "sh", "-c", "env")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
	for _, name := range []string{"DB_PASSWORD", "DB_USERNAME", "API_TOKEN", "GITHUB_TOKEN"} {
		if !strings.Contains(r.stdout, name+"=***") {
			t.Errorf("job env has no masked %s:\n%s", name, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ACTIONS_ID_TOKEN_REQUEST_TOKEN") {
		t.Error("the job received ACTIONS_ID_TOKEN_REQUEST_TOKEN without opting in")
	}
	// vault token + github token, plus the test's own vault login.
	assertRevoked(t, ds, 1)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if len(pred.Grants) != 6 {
		t.Fatalf("attested %d grants, want 6", len(pred.Grants))
	}
	for _, g := range pred.Grants {
		want := attest.RevocationExpiry
		if revocable[g.Provider] {
			want = attest.RevocationRevoked
		}
		if g.Revocation.Outcome != want {
			t.Errorf("grant %s (%s): revocation %q, want %q", g.Scope, g.Provider, g.Revocation.Outcome, want)
		}
	}
	if pred.Identity.Issuer != ds.env["CHAPERONE_DEVSTACK_ISSUER"] {
		t.Errorf("identity issuer %q, want %q", pred.Identity.Issuer, ds.env["CHAPERONE_DEVSTACK_ISSUER"])
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "chaperone.sigstore.json"))
	payload := decodePayload(t, raw)
	assertNoSecrets(t, secrets, payload)
}

func decodePayload(t *testing.T, bundle []byte) string {
	t.Helper()
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestRunPassesExitStatusAndStillAttests(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	r := chaperone(t, dir, ds.environ(), "run", "--", "sh", "-c", "exit 7")
	if r.code != 7 {
		t.Fatalf("exit %d, want 7; stderr:\n%s", r.code, r.stderr)
	}
	assertRevoked(t, ds, 0)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if len(pred.Steps) != 1 || pred.Steps[0].ExitCode != 7 {
		t.Fatalf("steps = %+v, want one with exit code 7", pred.Steps)
	}
	if pred.Outcome != "failure" {
		t.Errorf("outcome %q, want failure", pred.Outcome)
	}
}

func TestStartStop(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	r := chaperone(t, dir, ds.environ(), "start", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("start exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "export DB_PASSWORD='") {
		t.Fatalf("start printed no export line:\n%s", strings.ReplaceAll(r.stdout, "'", "?"))
	}
	assertNoSecrets(t, secrets, r.stderr)
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v, mode %v", err, fi.Mode())
	}
	sf, err := os.Stat(filepath.Join(state, "session.json"))
	if err != nil || sf.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v", err)
	}
	// The job's shell evaluates the exports and prints a secret through
	// chaperone mask, as `start`'s shell redirection does.
	if err := os.WriteFile(filepath.Join(dir, "exports.sh"), []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	job := exec.Command("sh", "-c", `. ./exports.sh; printf 'pw=%s token=%s\n' "$DB_PASSWORD" "$GITHUB_TOKEN" | "$CHAPERONE" mask --state-dir "$STATE"`)
	job.Dir, job.Env = dir, append(ds.environ(), "STATE="+state, "CHAPERONE="+binary)
	masked, err := job.CombinedOutput()
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	if strings.TrimSpace(string(masked)) != "pw=*** token=***" {
		t.Errorf("masked job output = %q", strings.ReplaceAll(string(masked), "\n", " "))
	}
	assertNoSecrets(t, secrets, string(masked))
	r = chaperone(t, dir, ds.environ(), "stop", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("stop exit %d:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("stop left the state directory behind: %v", err)
	}
	assertRevoked(t, ds, 1)
	if _, err := os.Stat(filepath.Join(dir, "chaperone.sigstore.json")); err != nil {
		t.Errorf("no attestation: %v", err)
	}
}

func TestStartGitHubShell(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	ghEnv := filepath.Join(dir, "github_env")
	r := chaperone(t, dir, append(ds.environ(), "GITHUB_ENV="+ghEnv), "start", "--shell", "github", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("start exit %d:\n%s", r.code, r.stderr)
	}
	written, err := os.ReadFile(ghEnv)
	if err != nil {
		t.Fatal(err)
	}
	// Every value written to GITHUB_ENV was registered with ::add-mask::
	// on stdout first.
	for _, s := range secrets {
		escaped := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
		if strings.Contains(string(written), s) && !strings.Contains(r.stdout, "::add-mask::"+escaped+"\n") {
			t.Errorf("a value reached GITHUB_ENV without ::add-mask::")
		}
	}
	if !strings.Contains(string(written), "DB_PASSWORD<<ghadelimiter_") {
		t.Errorf("GITHUB_ENV lacks the heredoc form for DB_PASSWORD")
	}
	r = chaperone(t, dir, ds.environ(), "stop", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("stop exit %d:\n%s", r.code, r.stderr)
	}
	assertRevoked(t, ds, 1)
}

// TestRunCancelledStillRevokes sends SIGTERM to `chaperone run`, as a CI
// runner cancelling a job does: the command is stopped, chaperone exits
// with its status, and every revocable grant is still revoked and attested.
func TestRunCancelledStillRevokes(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	cmd := exec.Command(binary, "run", "--", "sh", "-c", "echo started; exec sleep 60")
	cmd.Dir, cmd.Env = dir, ds.environ()
	var errb strings.Builder
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "started\n" {
		t.Fatalf("job did not start: %q %v", line, err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %v, want %d (the job killed by SIGTERM)\n%s", err, 128+int(syscall.SIGTERM), errb.String())
	}
	assertRevoked(t, ds, 0)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if len(pred.Steps) != 1 || pred.Steps[0].ExitCode != 143 || pred.Outcome != "canceled" {
		t.Errorf("steps %+v outcome %q", pred.Steps, pred.Outcome)
	}
}
