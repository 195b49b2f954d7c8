package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRun starts `chaperone run ARGS -- sh -c 'echo $$; sleep 60'` in
// dir and waits until the job has printed its pid.
func startRun(t *testing.T, ds *devstack, dir string, args ...string) (*exec.Cmd, int, *strings.Builder) {
	t.Helper()
	args = append(append([]string{"run"}, args...), "--", "sh", "-c", "echo $$; exec sleep 60")
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, ds.environ()
	errb := &strings.Builder{}
	cmd.Stderr = errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	pid, convErr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || convErr != nil {
		t.Fatalf("job did not start: %q %v\n%s", line, err, errb)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return cmd, pid, errb
}

// TestRunHangupAndQuitStillRevoke: a runner or terminal that sends HUP
// (or a user's QUIT) ends the job as TERM does: the command is stopped,
// every revocable grant revoked, and the bundle says the job was canceled.
func TestRunHangupAndQuitStillRevoke(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			ds := startDevstack(t, "github")
			dir := t.TempDir()
			cmd, _, errb := startRun(t, ds, dir)
			_ = cmd.Process.Signal(sig)
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
				t.Errorf("exit %v, want %d (the job stopped with SIGTERM)\n%s", err, 128+int(syscall.SIGTERM), errb)
			}
			assertRevoked(t, ds, 0)
			if pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json")); pred.Outcome != "canceled" {
				t.Errorf("outcome %q, want canceled", pred.Outcome)
			}
		})
	}
}

// TestRunIntoHead: `chaperone run -- seq … | head -n1`. The reader goes
// away; chaperone lives on, the command meets the closed pipe (SIGPIPE)
// as it would without chaperone, and the grants are revoked and attested.
func TestRunIntoHead(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	sh := exec.Command("bash", "-c", `"$CHAPERONE_BIN" run -- seq 1 1000000 | head -n1; echo "status ${PIPESTATUS[0]}" >&2`)
	sh.Dir, sh.Env = dir, append(ds.environ(), "CHAPERONE_BIN="+binary)
	var out, errb strings.Builder
	sh.Stdout, sh.Stderr = &out, &errb
	if err := sh.Run(); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if out.String() != "1\n" {
		t.Errorf("head printed %q", out.String())
	}
	if !strings.Contains(errb.String(), "status 141") {
		t.Errorf("chaperone did not pass on the command's SIGPIPE status:\n%s", errb.String())
	}
	assertRevoked(t, ds, 0)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if pred.Outcome == "success" || len(pred.Steps) != 1 || pred.Steps[0].ExitCode != 141 {
		t.Errorf("outcome %q, steps %+v", pred.Outcome, pred.Steps)
	}
}

// TestKilledRunRecoveredByStop: `run --state-dir` killed with SIGKILL
// leaves its state; `stop` revokes every grant and attests the job as
// interrupted, not success.
func TestKilledRunRecoveredByStop(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	cmd, _, _ := startRun(t, ds, dir, "--state-dir", state)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	r := chaperone(t, dir, ds.environ(), "stop", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("stop exit %d:\n%s", r.code, r.stderr)
	}
	assertRevoked(t, ds, 0)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if pred.Outcome != "interrupted" || len(pred.Steps) != 1 || !pred.Steps[0].Interrupted {
		t.Errorf("outcome %q, steps %+v", pred.Outcome, pred.Steps)
	}
	r = chaperone(t, dir, ds.environ(), "run", "--state-dir", state, "--format", "json", "--", "true")
	if r.code != 0 {
		t.Errorf("the state dir is not reusable after stop: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPlantedStateDirRefused: chaperone as root, another user has made the
// state directory (mode 0777) and put a session in it that names a
// directory of root's. stop refuses with a clear message; nothing is
// deleted, nothing signed.
func TestPlantedStateDirRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root and a second user")
	}
	const nobody = 65534
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "chaperone-creds-precious")
	if err := os.MkdirAll(filepath.Join(victim, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A shared temporary directory, as /tmp is (t.TempDir's parent is
	// private to root).
	shared, err := os.MkdirTemp("", "chaperone-shared-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(shared, "chaperone-0")
	var session []byte
	// The other user's planting, done as that user.
	session, err = json.Marshal(map[string]any{
		"version": 1, "config": []byte("version: 1\nscopes: [{name: x, provider: vault, address: 'http://127.0.0.1:1', role: r}]\nattest: {signer: none}\n"),
		"configSource": "planted", "platform": "github", "fileDir": victim,
		"identity": map[string]any{"issuer": "https://attacker.example", "subject": "attacker"},
		"grants":   []any{}, "secrets": []string{}, "startedAt": time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	plant := exec.Command("sh", "-c", `mkdir -m 777 "$1" && chmod 777 "$1" && cat > "$1/session.json" && chmod 666 "$1/session.json"`, "sh", state)
	plant.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	plant.Stdin = strings.NewReader(string(session))
	if out, err := plant.CombinedOutput(); err != nil {
		t.Fatalf("planting as uid %d: %v\n%s", nobody, err, out)
	}
	r := chaperone(t, dir, ds.environ(), "stop", "--state-dir", state)
	if r.code != 2 || !strings.Contains(r.stderr, "owned by uid 65534") || !strings.Contains(r.stderr, "refusing") {
		t.Errorf("stop of a planted state: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(victim, "data")); err != nil {
		t.Errorf("the directory the planted state names was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "chaperone.sigstore.json")); err == nil {
		t.Errorf("a bundle was signed from the planted state")
	}
}
