package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// timeoutsEdit sets a config's timeouts: block (the generated config ends
// with attest:, which the block goes before).
func timeoutsEdit(block string) []string {
	return []string{"attest:\n", "timeouts: " + block + "\nattest:\n"}
}

// A Vault whose revoke-self accepts and never answers costs only its own
// grant: the healthy GitHub and token-exchange grants are revoked at once,
// the hung one is attested as failed, and Stop ends within the deadlines.
func TestHungRevocationCostsOnlyItsGrant(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	s, _ := newTestSession(t, st, timeoutsEdit("{attempt: 1s, request: 3s, cleanup: 20s}")...)
	s.opts.RetryDeadline = 0 // the config's timeouts decide
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := st.InjectFaults(devstack.ServiceVault, devstack.Fault{Hang: true}, devstack.Fault{Hang: true}, devstack.Fault{Hang: true}, devstack.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	sum, err := s.Stop(context.Background())
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), `scope "db": revocation failed`) {
		t.Fatalf("Stop = %v, want the db scope's revocation failure", err)
	}
	if took > 20*time.Second {
		t.Errorf("Stop took %s, beyond timeouts.cleanup", took)
	}
	for _, c := range st.Credentials() {
		switch c.Provider {
		case "github", "token-exchange":
			if !c.Revoked {
				t.Fatalf("%s credential not revoked", c.Provider)
			}
			if d := c.RevokedAt.Sub(began); d > 2*time.Second {
				t.Errorf("%s revoked %s after Stop began, want within 2s", c.Provider, d)
			}
		case "vault":
			if c.Revoked {
				t.Errorf("the hung Vault revoked its token: the test proves nothing")
			}
		}
	}
	pred := verifyBundle(t, st, sum)
	for _, g := range pred.Grants {
		want := attest.RevocationRevoked
		switch g.Provider {
		case "vault":
			want = attest.RevocationFailed
		case "aws", "gcp", "azure":
			want = attest.RevocationExpiry
		}
		if g.Revocation.Outcome != want {
			t.Errorf("scope %s: revocation %q, want %q (%s)", g.Scope, g.Revocation.Outcome, want, g.Revocation.Error)
		}
	}
}

// An Actions token endpoint that accepts and never answers ends Start
// within timeouts.request, with an error that says so.
func TestHungIssuerIsBounded(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st, timeoutsEdit("{attempt: 500ms, request: 2s}")...)
	s.opts.RetryDeadline = 0
	hangs := make([]devstack.Fault, 50)
	for i := range hangs {
		hangs[i].Hang = true
	}
	if err := st.InjectFaults(devstack.ServiceIssuer, hangs...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Begin(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "GitHub OIDC token request") || !strings.Contains(err.Error(), "no answer within 2s") {
			t.Fatalf("Begin = %v, want the token request to give up after 2s", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Begin still waiting on a hung issuer after 30s (timeouts.request is 2s)")
	}
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("%d credentials issued without an identity", n)
	}
}

// A renewal is saved before it is served: a process killed right after
// serving leaves a state file that names the renewed credential, so stop
// revokes it.
func TestRenewalSavedBeforeServed(t *testing.T) {
	st := stack(t, devstack.Options{GitHubTokenTTL: 2 * time.Second})
	s, _ := newTestSession(t, st, "    env: GITHUB_TOKEN\n", "    env: GITHUB_TOKEN\n    deliver: endpoint\n    ttl: 2s\n")
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	if err := s.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // into the refresh window (half the lifetime)
	g, err := s.liveGrant(context.Background(), "repo")
	if err != nil {
		t.Fatal(err)
	}
	// What a stop in another process would find, were this one killed now.
	r, err := Resume(Options{StateDir: s.opts.StateDir, Getenv: s.opts.Getenv, Log: &strings.Builder{}})
	if err != nil {
		t.Fatal(err)
	}
	saved := r.st.Grants[1]
	if saved.Scope != "repo" || saved.Grant.Fingerprint != g.Fingerprint {
		t.Fatalf("the state file holds credential %.8s, the endpoint served %.8s", saved.Grant.Fingerprint, g.Fingerprint)
	}
	r.cfg.Attest.Output = s.cfg.Attest.Output
	if _, err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Credentials() {
		if !c.Revoked {
			t.Errorf("%s credential %s left live after the recovered stop", c.Provider, c.ID)
		}
	}
}

// A command that started and was never seen to end makes the recovered
// session's outcome interrupted, not success.
func TestRecoveredRunIsInterrupted(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	if err := s.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The command starts; the process is then killed (nothing after
	// beginStep runs).
	if _, err := s.beginStep(attest.Step{Command: []string{"make", "deploy"}, StartedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	r, err := Resume(Options{StateDir: s.opts.StateDir, Getenv: s.opts.Getenv, Log: &strings.Builder{}})
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.Attest.Output = s.cfg.Attest.Output
	sum, err := r.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pred := verifyBundle(t, st, sum)
	if pred.Outcome != attest.OutcomeInterrupted {
		t.Errorf("outcome %q, want interrupted", pred.Outcome)
	}
	if len(pred.Steps) != 1 || !pred.Steps[0].Interrupted || pred.Steps[0].ExitCode != -1 {
		t.Errorf("steps %+v, want one interrupted step", pred.Steps)
	}
}

// start/stop sessions run no command: the outcome is the CI's job status
// where it tells (GitLab's CI_JOB_STATUS in after_script), else unknown.
func TestStartStopOutcome(t *testing.T) {
	for _, tc := range []struct{ status, want string }{
		{"", attest.OutcomeUnknown},
		{"success", attest.OutcomeSuccess},
		{"failed", attest.OutcomeFailure},
		{"canceled", attest.OutcomeCanceled},
	} {
		st := stack(t, devstack.Options{})
		s, _ := newTestSession(t, st)
		base := s.opts.Getenv
		s.opts.Getenv = func(k string) string {
			if k == "CI_JOB_STATUS" {
				return tc.status
			}
			return base(k)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		sum, err := s.Stop(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := verifyBundle(t, st, sum).Outcome; got != tc.want {
			t.Errorf("CI_JOB_STATUS=%q: outcome %q, want %q", tc.status, got, tc.want)
		}
	}
}

// A run whose context is cancelled (a signal to chaperone) is attested as
// canceled.
func TestCancelledRunIsCanceled(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var out strings.Builder
	code, err := s.Run(ctx, []string{"sleep", "30"}, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d, want the command's SIGTERM", code)
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyBundle(t, st, sum).Outcome; got != attest.OutcomeCanceled {
		t.Errorf("outcome %q, want canceled", got)
	}
}

// A second Begin where a session is open refuses before issuing anything:
// the first session's credentials stay in its state for its stop.
func TestSecondBeginRefused(t *testing.T) {
	st := stack(t, devstack.Options{})
	dir := filepath.Join(t.TempDir(), "state")
	first, _ := newTestSession(t, st)
	first.opts.StateDir = dir
	if err := first.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	issued := len(st.Credentials())
	second, _ := newTestSession(t, st)
	second.opts.StateDir = dir
	var cfgErr *ConfigError
	if err := second.Begin(context.Background()); !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("second Begin = %v, want a refusal", err)
	}
	if n := len(st.Credentials()); n != issued {
		t.Errorf("the refused Begin issued %d credentials", n-issued)
	}
	r, err := Resume(Options{StateDir: dir, Getenv: first.opts.Getenv, Log: &strings.Builder{}})
	if err != nil {
		t.Fatal(err)
	}
	r.cfg.Attest.Output = first.cfg.Attest.Output
	if _, err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Credentials() {
		if !c.Revoked {
			t.Errorf("%s credential of the first session left live", c.Provider)
		}
	}
}

// A reader that goes away (`| head`) does not stop the lifecycle: the
// command meets the closed pipe as it would without chaperone (SIGPIPE),
// and Run returns its status.
func TestClosedReaderEndsCommandNotSession(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := &closingWriter{after: 1}
	code, err := s.Run(context.Background(), []string{"seq", "1", "10000000"}, nil, out, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if code != 128+int(syscall.SIGPIPE) {
		t.Errorf("exit %d, want the command killed by SIGPIPE (%d)", code, 128+int(syscall.SIGPIPE))
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyBundle(t, st, sum).Outcome; got != attest.OutcomeFailure {
		t.Errorf("outcome %q, want failure", got)
	}
}

// closingWriter accepts some writes, then fails as a closed pipe does.
type closingWriter struct{ after int }

func (w *closingWriter) Write(p []byte) (int, error) {
	if w.after == 0 {
		return 0, syscall.EPIPE
	}
	w.after--
	return len(p), nil
}

// Processes the command leaves behind are ended before revocation:
// SIGTERM, then SIGKILL for one that ignores it, each recorded.
func TestLeftBehindProcessesEnded(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st, timeoutsEdit("{kill-grace: 500ms}")...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The second one ignores TERM; the command waits until it has said so.
	script := `sleep 300 & echo $! > "$1"; sh -c 'trap "" TERM; echo $$ >> "$1"; while :; do sleep 1; done' sh "$1" &
while [ "$(wc -l < "$1")" -lt 2 ]; do sleep 0.05; done`
	var out strings.Builder
	code, err := s.Run(context.Background(), []string{"sh", "-c", script, "sh", pidFile}, strings.NewReader(""), &out, &out)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v: %s", code, err, out.String())
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
		if processAlive(pid) {
			t.Errorf("left-behind process %d still running after Run", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pred := verifyBundle(t, st, sum)
	ended := map[int]string{}
	for _, p := range pred.Steps[0].EndedProcesses {
		ended[p.PID] = p.Signal
	}
	if len(pids) != 2 || ended[pids[0]] != "SIGTERM" || ended[pids[1]] != "SIGKILL" {
		raw, _ := json.Marshal(pred.Steps[0].EndedProcesses)
		t.Errorf("ended %s, want %d by SIGTERM and %d by SIGKILL", raw, pids[0], pids[1])
	}
}

// processAlive reports whether pid is a live process (not a zombie
// waiting for a parent that does not reap).
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	state, _, ok := parseStat(string(stat))
	return ok && state != "Z" && state != "X"
}

// plantedState writes what an attacker would: a session file naming their
// own identity and a directory of the victim's as the delivered files.
func plantedState(t *testing.T, st *devstack.Stack, dir, victim string) {
	t.Helper()
	s, _ := newTestSession(t, st)
	s.st.FileDir = victim
	s.st.Identity = attest.Identity{Issuer: "https://attacker.example", Subject: "attacker"}
	data, err := json.Marshal(s.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), data, 0o666); err != nil {
		t.Fatal(err)
	}
}

// A state directory or file another user planted is refused by Resume: no
// directory it names is removed, nothing is signed.
func TestPlantedStateRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to plant files owned by another user")
	}
	const nobody = 65534
	st := stack(t, devstack.Options{})
	victim := filepath.Join(t.TempDir(), privateDirPrefix+"victim")
	if err := os.Mkdir(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "planted.sigstore.json")

	cases := map[string]func(dir string){
		// The attacker made the directory (world-writable, theirs).
		"foreign directory": func(dir string) {
			must(t, os.Mkdir(dir, 0o777), os.Chmod(dir, 0o777))
			plantedState(t, st, dir, victim)
			must(t, os.Chown(dir, nobody, nobody), os.Chown(filepath.Join(dir, stateFile), nobody, nobody))
		},
		// Our directory, their file.
		"foreign file": func(dir string) {
			must(t, os.Mkdir(dir, 0o700))
			plantedState(t, st, dir, victim)
			must(t, os.Chown(filepath.Join(dir, stateFile), nobody, nobody))
		},
		// A symbolic link to a directory holding a valid-looking state.
		"symlinked directory": func(dir string) {
			real := dir + "-real"
			must(t, os.Mkdir(real, 0o700))
			plantedState(t, st, real, victim)
			must(t, os.Chmod(filepath.Join(real, stateFile), 0o600), os.Symlink(real, dir))
		},
		// Our directory, but the file is a link to one elsewhere.
		"symlinked file": func(dir string) {
			must(t, os.Mkdir(dir, 0o700))
			other := filepath.Join(t.TempDir(), "other")
			must(t, os.Mkdir(other, 0o700))
			plantedState(t, st, other, victim)
			must(t, os.Chmod(filepath.Join(other, stateFile), 0o600), os.Symlink(filepath.Join(other, stateFile), filepath.Join(dir, stateFile)))
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
			plant(dir)
			_, err := Resume(Options{StateDir: dir, Getenv: envMap(st.Env()), Log: &strings.Builder{}})
			var cfgErr *ConfigError
			if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("Resume of a planted state = %v, want a refusal", err)
			}
			if _, err := os.Stat(victim); err != nil {
				t.Errorf("the victim directory is gone: %v", err)
			}
			if _, err := os.Stat(bundle); err == nil {
				t.Errorf("a bundle was signed")
			}
		})
	}
}

// Even a state file of our own cannot make stop remove a directory that
// is not one chaperone made for delivered files.
func TestUndeliverRemovesOnlyItsOwnDirectory(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	victim := t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.st.FileDir = victim
	if err := s.undeliver(); err == nil || !strings.Contains(err.Error(), "left in place") {
		t.Fatalf("undeliver of a foreign directory = %v", err)
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Errorf("the foreign directory lost its file: %v", err)
	}
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
