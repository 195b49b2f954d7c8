package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest/sign"
)

// runSummary is the part of run's JSON summary these tests read.
type runSummary struct {
	Outcome    string `json:"outcome"`
	Bundle     string `json:"bundle"`
	JobSubject struct {
		Digest map[string]string `json:"digest"`
	} `json:"jobSubject"`
}

// TestCLIRunOwnsNothingAfterTheCommand: everything from run's first
// positional argument on is the wrapped command's, flags included; flags
// before it are chaperone's.
func TestCLIRunOwnsNothingAfterTheCommand(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "sh", "-c", "echo hi"}, "hi\n"},
		{[]string{"run", "--", "sh", "-c", "echo hi"}, "hi\n"},
		{[]string{"run", "sh", "-c", `echo "$@"`, "sh", "-la", "--config", "x", "--format=json"}, "-la --config x --format=json\n"},
		{[]string{"run", "--config", ds.env["CHAPERONE_CONFIG"], "--state-dir", filepath.Join(dir, "state"), "sh", "-c", "echo hi"}, "hi\n"},
	}
	for _, tc := range cases {
		r := chaperone(t, dir, ds.environ(), tc.args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%q: exit %d, stdout %q; want 0 and %q\n%s", tc.args, r.code, r.stdout, tc.want, r.stderr)
		}
	}
	// -a lists "..": the flag reached ls.
	if r := chaperone(t, dir, ds.environ(), "run", "ls", "-la", dir); r.code != 0 || !strings.Contains(r.stdout, " ..\n") {
		t.Errorf("run ls -la: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestCLIRunSummaryLeavesStdoutToTheJob: with --format json the job's
// stdout carries only the job's output; the summary is on stderr, or with
// --summary-file (or CHAPERONE_SUMMARY_FILE) in that file only.
func TestCLIRunSummaryLeavesStdoutToTheJob(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	r := chaperone(t, dir, ds.environ(), "run", "--format", "json", "--", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("run --format json: exit %d, stdout %q; want only the job's \"hi\"\n%s", r.code, r.stdout, r.stderr)
	}
	if i := strings.Index(r.stderr, "{"); i < 0 || !validSummary(t, []byte(r.stderr[i:])) {
		t.Errorf("run --format json: no JSON summary on stderr:\n%s", r.stderr)
	}

	file := filepath.Join(dir, "summary.json")
	r = chaperone(t, dir, ds.environ(), "run", "--format", "json", "--summary-file", file, "--", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" || strings.Contains(r.stderr, `"jobSubject"`) {
		t.Errorf("run --summary-file: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !validSummary(t, []byte(readFile(t, file))) {
		t.Errorf("summary file %s: %s", file, readFile(t, file))
	}

	envFile := filepath.Join(dir, "env-summary.json")
	r = chaperone(t, dir, append(ds.environ(), "CHAPERONE_SUMMARY_FILE="+envFile), "run", "--", "true")
	if r.code != 0 || r.stdout != "" || !validSummary(t, []byte(readFile(t, envFile))) {
		t.Errorf("CHAPERONE_SUMMARY_FILE: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}

// validSummary reports whether data starts with a JSON summary of a
// successful, signed job.
func validSummary(t *testing.T, data []byte) bool {
	t.Helper()
	var sum runSummary
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&sum); err != nil {
		t.Logf("summary: %v", err)
		return false
	}
	return sum.Outcome == "success" && sum.Bundle != "" && len(sum.JobSubject.Digest["sha256"]) == 64
}

// TestCLIUsage: an unknown command is a usage error (exit 2, one line) and
// --version prints what the version command prints.
func TestCLIUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"nosuch"}, {"gitlab", "nosuch"}} {
		assertOneLineError(t, chaperone(t, dir, nil, args...), 2, "unknown command", nil)
	}
	version := chaperone(t, dir, nil, "version")
	flag := chaperone(t, dir, nil, "--version")
	if flag.code != 0 || version.code != 0 || flag.stdout != version.stdout || !strings.HasPrefix(flag.stdout, "chaperone ") {
		t.Errorf("--version: exit %d %q; version: exit %d %q", flag.code, flag.stdout, version.code, version.stdout)
	}
}

// TestCLIConfigRefusals: config errors found before anything is issued,
// each one line naming what is wrong, exit 2.
func TestCLIConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, config, want string
	}{
		{"a number for a duration", `version: 1
identity: {source: env}
scopes:
  - name: deploy
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/deploy
    region: eu-west-1
    duration: 3600
`, `chaperone.yml:8: scope "deploy": duration: 3600 is a number, not a duration (write 3600s or 1h)`},
		{"two scopes deliver one variable", `version: 1
identity: {source: env}
scopes:
  - name: kv
    provider: vault
    address: https://vault.example.com
    role: ci
    secrets: [{path: secret/data/ci/gh, field: token, env: GITHUB_TOKEN}]
  - name: repo
    provider: github
    address: https://octo-sts.example.com
    scope: org/repo
    identity: ci
`, `scopes "kv" and "repo" both deliver GITHUB_TOKEN`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "chaperone.yml")
			writeFile(t, cfg, tc.config)
			env := []string{"PATH=" + os.Getenv("PATH")}
			assertOneLineError(t, chaperone(t, dir, env, "run", "--config", cfg, "--", "true"), 2, tc.want, nil)
		})
	}
}

// TestCLIVerifyReadsRegularFilesOnly: a named pipe nobody writes to, or a
// device, in the place of any file verify reads is refused at once.
func TestCLIVerifyReadsRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, pub, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pub")
	writeFile(t, key, string(pub))
	digest := "sha256:" + strings.Repeat("0", 64)
	for _, args := range [][]string{
		{"verify", fifo, "--key", key, "--digest", digest},
		{"verify", os.DevNull, "--key", key, "--digest", digest},
		{"verify", filepath.Join(dir, "b.json"), "--key", fifo, "--digest", digest},
		{"verify", filepath.Join(dir, "b.json"), "--key", key, "--policy", fifo, "--digest", digest},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Errorf("%q: still running after 20s", args)
			continue
		}
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		assertOneLineError(t, result{code: code, stdout: stdout.String(), stderr: stderr.String()}, 2, "not a regular file", nil)
	}
}
