package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

func TestShellMasksOutput(t *testing.T) {
	gitlab := func(k string) string {
		if k == "GITLAB_CI" {
			return "true"
		}
		return ""
	}
	none := func(string) string { return "" }
	for _, tc := range []struct {
		mode   string
		getenv func(string) string
		want   bool
	}{
		{"auto", gitlab, true}, {"auto", none, false}, {"", gitlab, true},
		{"on", none, true}, {"off", gitlab, false},
	} {
		if got, err := ShellMasksOutput(tc.mode, tc.getenv); err != nil || got != tc.want {
			t.Errorf("mode %q: %v %v, want %v", tc.mode, got, err, tc.want)
		}
	}
	var cfgErr *ConfigError
	if _, err := ShellMasksOutput("yes", none); !errors.As(err, &cfgErr) {
		t.Errorf("mode yes: %v, want a config error", err)
	}
}

// startedShellSession begins a GitLab session saved in a state directory.
func startedShellSession(t *testing.T, st *devstack.Stack, edits ...string) *Session {
	t.Helper()
	s, _ := newTestSession(t, st, edits...)
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	if err := s.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// grantSecrets are the values the Session's grants hold.
func grantSecrets(s *Session) []string {
	var out []string
	for _, g := range s.st.Grants {
		for _, v := range g.Grant.Values {
			out = append(out, v.Secret)
		}
	}
	return out
}

// The text a shell evaluates holds no secret, and in bash and in sh it
// sends the rest of the shell's stdout and stderr through the masker
// command (here a stand-in that marks every line), traced lines included;
// the masker is no child of the shell, so `wait` does not wait for it.
func TestExportShellMaskedRoutesTheRestOfTheShell(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab})
	s := startedShellSession(t, st)
	secrets := grantSecrets(s)
	for _, shell := range []string{"bash", "sh"} {
		t.Run(shell, func(t *testing.T) {
			var text bytes.Buffer
			if err := s.ExportShellMasked(&text, []string{"sed", "s/^/masked| /"}); err != nil {
				t.Fatal(err)
			}
			for _, v := range s.Secrets() {
				if strings.Contains(text.String(), v) {
					t.Fatalf("the evaluated text holds a secret")
				}
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "start.out"), text.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			script := `set -e
set -x
eval "$(cat start.out)"
printf 'pw=%s\n' "$DB_PASSWORD"
printf 'token=%s\n' "$GITHUB_TOKEN" >&2
sleep 0.1 &
wait
echo done`
			cmd := exec.CommandContext(ctx, shell, "-c", script)
			cmd.Dir, cmd.Env = dir, []string{"PATH=" + os.Getenv("PATH")}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v (a `wait` for the masker?)\n%s", shell, err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			for _, want := range []string{"masked| pw=", "masked| token=", "masked| done"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q: the output did not go through the masker:\n%s", want, out.String())
				}
			}
			for _, l := range lines {
				for _, v := range secrets {
					if strings.Contains(l, v) && !strings.HasPrefix(l, "masked| ") {
						t.Errorf("a secret passed beside the masker in line %.20q…", l)
					}
				}
			}
		})
	}
	s.DrainJobOutput(context.Background())
	entries, _ := os.ReadDir(s.opts.StateDir)
	if len(entries) != 1 || entries[0].Name() != stateFile {
		t.Errorf("drain left %v in the state directory", entries)
	}
}

// A failed start makes the evaluating shell exit with start's code, with
// or without set -e.
func TestShellFailureEndsTheShell(t *testing.T) {
	var text bytes.Buffer
	if err := ShellFailure(&text, 125); err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"bash", "sh"} {
		cmd := exec.Command(shell, "-c", `eval "$FAILED"; echo continued`)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FAILED=" + text.String()}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 125 || strings.Contains(string(out), "continued") {
			t.Errorf("%s: %v, want exit 125 before the next line:\n%s", shell, err, out)
		}
		if !strings.Contains(string(out), "chaperone: start failed") {
			t.Errorf("%s: no reason on stderr:\n%s", shell, out)
		}
	}
}

// readRecord reads a masker's record, waiting for it to appear.
func readRecord(t *testing.T, path string) maskerRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			var rec maskerRecord
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatal(err)
			}
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("no masker record: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The job output masker records its pid, and its redactions at the end;
// stop's drain waits for the end, attests the count and removes the
// record.
func TestJobOutputMaskerDrainedByStop(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab})
	s := startedShellSession(t, st)
	secrets := grantSecrets(s)
	masker, err := Resume(Options{StateDir: s.opts.StateDir, Getenv: s.opts.Getenv, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- masker.MaskJobOutput(pr, &out, io.Discard) }()

	recPath := filepath.Join(s.opts.StateDir, "masker-"+strconv.Itoa(os.Getpid())+".json")
	if rec := readRecord(t, recPath); rec.PID != os.Getpid() || rec.Done {
		t.Fatalf("record while running: %+v", rec)
	}
	if fi, err := os.Stat(recPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record mode: %v %v", fi.Mode(), err)
	}
	for _, v := range secrets[:3] {
		if _, err := io.WriteString(pw, "value "+v+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// The job's shell ends while stop is already waiting.
	time.AfterFunc(300*time.Millisecond, func() { _ = pw.Close() })
	stopper, err := Resume(Options{StateDir: s.opts.StateDir, Getenv: s.opts.Getenv, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	stopper.DrainJobOutput(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "[MASKED]"); got != 3 {
		t.Errorf("masked output %d tokens, want 3", got)
	}
	if stopper.st.Redactions != 3 {
		t.Errorf("drained %d redactions, want the masker's 3", stopper.st.Redactions)
	}
	if _, err := os.Stat(recPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left after the drain: %v", err)
	}
	stopper.cfg.Attest.Output = s.cfg.Attest.Output
	sum, err := stopper.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pred := verifyBundle(t, st, sum); pred.Masking.Redactions != 3 {
		t.Errorf("attested %d redactions, want 3", pred.Masking.Redactions)
	}
	if _, err := os.Stat(s.opts.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory left after stop: %v", err)
	}
}

// The drain is bounded by timeouts.kill-grace: a masker that is still
// running (a process the job left holds the output) is left running and
// uncounted. A record that is not the user's own private file, or of a
// masker killed before counting, is reported and not counted.
func TestDrainBoundedAndPlantedRecordsRefused(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab})
	s := startedShellSession(t, st, timeoutsEdit("{kill-grace: 500ms}")...)
	var log bytes.Buffer
	s.opts.Log = &log
	write := func(name string, rec maskerRecord, mode os.FileMode) {
		data, _ := json.Marshal(rec)
		path := filepath.Join(s.opts.StateDir, name)
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("masker-1.json", maskerRecord{PID: os.Getpid()}, 0o600)                        // running
	write("masker-2.json", maskerRecord{PID: 1 << 22, Redactions: 50}, 0o600)            // killed
	write("masker-3.json", maskerRecord{PID: 1 << 22, Done: true, Redactions: 7}, 0o644) // planted
	start := time.Now()
	s.DrainJobOutput(context.Background())
	if took := time.Since(start); took < 500*time.Millisecond || took > 5*time.Second {
		t.Errorf("drain took %v, want the 500ms bound", took)
	}
	if s.st.Redactions != 0 {
		t.Errorf("counted %d redactions of records that are not a finished masker's", s.st.Redactions)
	}
	for _, want := range []string{"still running", "ended without counting", "accessible to other users"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if _, err := os.Stat(filepath.Join(s.opts.StateDir, "masker-1.json")); err != nil {
		t.Errorf("the running masker's record was removed: %v", err)
	}
}

func TestSessionDirFindsTheDefaultSession(t *testing.T) {
	runtime := t.TempDir()
	getenv := envMap([]string{"XDG_RUNTIME_DIR=" + runtime, "GITLAB_CI=true", "CI_JOB_ID=42"})
	if got := SessionDir("/explicit", getenv); got != "/explicit" {
		t.Errorf("explicit: %q", got)
	}
	if got := SessionDir("", getenv); got != "" {
		t.Errorf("no session: %q", got)
	}
	def, err := DefaultStateDir(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := makePrivateDir(def); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(def, stateFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := SessionDir("", getenv); got != def {
		t.Errorf("started session: %q, want %q", got, def)
	}
}
