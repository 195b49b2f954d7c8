package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/masking"
)

// actionJob is one job's worth of the runner's side of the action, in
// nektos/act's layout (file commands in a directory shared with every
// step, ACT=true), which needs no /github mounts: the e2e harness plays
// GitHub's own runner layout.
type actionJob struct {
	t         *testing.T
	st        *devstack.Stack
	shared    string // act's /var/run/act
	workspace string
	env       map[string]string
	exe       string
}

func newActionJob(t *testing.T, st *devstack.Stack, configEdits ...string) *actionJob {
	t.Helper()
	j := &actionJob{t: t, st: st, shared: t.TempDir(), workspace: t.TempDir(), env: map[string]string{}}
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		j.env[k] = v
	}
	data, err := os.ReadFile(st.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "output: chaperone.sigstore.json", "output: "+filepath.Join(j.workspace, "chaperone.sigstore.json"), 1)
	for i := 0; i+1 < len(configEdits); i += 2 {
		text = strings.Replace(text, configEdits[i], configEdits[i+1], 1)
	}
	config := filepath.Join(t.TempDir(), "chaperone.yml")
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	j.exe = filepath.Join(t.TempDir(), "chaperone-exe")
	if err := os.WriteFile(j.exe, []byte("#!/bin/sh\necho installed\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(j.shared, "workflow"), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ACT": "true", "GITHUB_ACTION": "chaperone", "GITHUB_WORKSPACE": j.workspace, "INPUT_CONFIG": config,
		"GITHUB_ENV": j.file("envs.txt"), "GITHUB_OUTPUT": j.file("outputcmd.txt"), "GITHUB_STATE": j.file("statecmd.txt"),
		"GITHUB_PATH": j.file("pathcmd.txt"), "GITHUB_STEP_SUMMARY": j.file("SUMMARY.md"),
	} {
		j.env[k] = v
	}
	return j
}

func (j *actionJob) file(name string) string { return filepath.Join(j.shared, "workflow", name) }

func (j *actionJob) read(name string) string {
	data, _ := os.ReadFile(j.file(name))
	return string(data)
}

// step runs main or post with the job's environment plus extra.
func (j *actionJob) step(post bool, extra map[string]string) (stdout, stderr string, err error) {
	env := map[string]string{}
	for k, v := range j.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	var out, errb bytes.Buffer
	o := ActionOptions{Getenv: func(k string) string { return env[k] }, Environ: []string{}, Stdout: &out, Stderr: &errb,
		Executable: j.exe, Version: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if post {
		err = ActionPost(ctx, o)
	} else {
		err = ActionMain(ctx, o)
	}
	return out.String(), errb.String(), err
}

// fileCommand reads entries of a GITHUB_ENV-format file (NAME=value or
// NAME<<DELIM heredocs), as the runner does.
func fileCommand(t *testing.T, text string) (map[string]string, []string) {
	t.Helper()
	vals := map[string]string{}
	var delims []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			delims = append(delims, delim)
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("heredoc %s has no closing delimiter", name)
			}
			vals[name] = strings.Join(val, "\n")
			continue
		}
		name, val, _ := strings.Cut(line, "=")
		vals[name] = val
	}
	return vals, delims
}

func TestActionMainThenPost(t *testing.T) {
	st := stack(t, devstack.Options{})
	j := newActionJob(t, st)
	stdout, stderr, err := j.step(false, nil)
	if err != nil {
		t.Fatalf("main: %v\nstderr:\n%s", err, stderr)
	}
	// Masks come first, then nothing else on stdout shows a value.
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	masks := map[string]bool{}
	for i, l := range lines {
		v, ok := masking.ParseAddMask(l)
		if !ok || !strings.HasPrefix(l, "::add-mask::") {
			t.Errorf("stdout line %d is not an ::add-mask:: line", i)
			continue
		}
		masks[v] = true
	}
	env, delims := fileCommand(t, j.read("envs.txt"))
	for _, name := range []string{"GITHUB_TOKEN", "DB_PASSWORD", "DB_USERNAME", "API_TOKEN"} {
		v := env[name]
		if v == "" {
			t.Fatalf("GITHUB_ENV has no %s", name)
		}
		if !masks[v] {
			t.Errorf("%s reached GITHUB_ENV without ::add-mask::", name)
		}
		if strings.Contains(stderr, v) {
			t.Errorf("%s printed on stderr", name)
		}
	}
	seenDelim := map[string]bool{}
	for _, d := range delims {
		if !regexp.MustCompile(`^ghadelimiter_[0-9a-f]{32}$`).MatchString(d) || seenDelim[d] {
			t.Errorf("GITHUB_ENV delimiter %q is not a fresh random one", d)
		}
		seenDelim[d] = true
	}
	outputs, _ := fileCommand(t, j.read("outputcmd.txt"))
	if outputs["scopes"] != "db,repo" || !strings.HasPrefix(outputs["identity"], "repo:") {
		t.Errorf("outputs %v", outputs)
	}
	home := filepath.Join(j.shared, ".chaperone")
	if got := strings.TrimSpace(j.read("pathcmd.txt")); got != filepath.Join(home, "bin") {
		t.Errorf("GITHUB_PATH %q, want %s", got, filepath.Join(home, "bin"))
	}
	if data, err := os.ReadFile(filepath.Join(home, "bin", "chaperone")); err != nil || !strings.Contains(string(data), "installed") {
		t.Errorf("chaperone not installed for later steps: %v", err)
	}
	state, _ := fileCommand(t, j.read("statecmd.txt"))
	dir := filepath.Join(home, "state-chaperone")
	if state[stateDirName] != dir || len(state[stateKeyName]) != 43 {
		t.Fatalf("GITHUB_STATE %v", state)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, sealedStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(env["GITHUB_TOKEN"])) || bytes.Contains(sealed, []byte("grants")) {
		t.Error("the sealed session is readable")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode: %v %v", fi.Mode(), err)
	}

	// Post, with the key as GitHub's runner passes it.
	stdout, stderr, err = j.step(true, map[string]string{"STATE_key": state[stateKeyName], "STATE_dir": state[stateDirName], "INPUT_JOB-STATUS": "success"})
	if err != nil {
		t.Fatalf("post: %v\nstderr:\n%s", err, stderr)
	}
	for _, c := range st.Credentials() {
		if (c.Provider == "vault" || c.Provider == "github") && !c.Revoked {
			t.Errorf("%s credential %s not revoked", c.Provider, c.ID)
		}
	}
	outputs, _ = fileCommand(t, j.read("outputcmd.txt"))
	if outputs["bundle"] != "chaperone.sigstore.json" {
		t.Errorf("bundle output %q, want the path relative to the workspace", outputs["bundle"])
	}
	if _, err := os.Stat(filepath.Join(j.workspace, "chaperone.sigstore.json")); err != nil {
		t.Errorf("bundle: %v", err)
	}
	summary := j.read("SUMMARY.md")
	if rows := tableRows(summary); rows != 2 {
		t.Errorf("summary has %d grant rows, want 2:\n%s", rows, summary)
	}
	for _, want := range []string{"| db | vault |", "| repo | github |", "revoked at", "Outcome: **success**", "chaperone verify", "cosign verify-blob-attestation"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	for _, v := range env {
		if len(v) >= 8 && (strings.Contains(summary, v) || strings.Contains(stdout+stderr, v)) {
			t.Errorf("post printed a delivered value")
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sealed session outlived post: %v", err)
	}
}

// tableRows counts the body rows of the summary's grant table.
func tableRows(md string) int {
	n := 0
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| Scope ") {
			n++
		}
	}
	return n
}

func TestActionPostRefusesTamperedState(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		state  bool // the runner passes STATE_*
		want   string
	}{
		{"flipped byte", func(t *testing.T, dir string) {
			path := filepath.Join(dir, sealedStateFile)
			data, _ := os.ReadFile(path)
			data[len(data)/2] ^= 1
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true, "modified or replaced"},
		{"removed", func(t *testing.T, dir string) { os.RemoveAll(dir) }, true, "a later step removed it"},
		{"key file replaced, STATE_key wins", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, stateKeyFile), []byte(newStateKey()), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, sealedStateFile)
			if err := os.WriteFile(path, []byte("forged"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true, "modified or replaced"},
		{"opened for others, no STATE_*", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, sealedStateFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false, "accessible to other users"},
		{"symlink, no STATE_*", func(t *testing.T, dir string) {
			other := dir + ".real"
			if err := os.Rename(dir, other); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, dir); err != nil {
				t.Fatal(err)
			}
		}, false, "symbolic link"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name   string
			tamper func(t *testing.T, dir string)
			state  bool
			want   string
		}{"replaced by another user, no STATE_*", func(t *testing.T, dir string) {
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, false, "owned by uid 65534"})
	}
	st := stack(t, devstack.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newActionJob(t, st)
			j.env["GITHUB_ACTION"] = "step-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, stderr, err := j.step(false, nil); err != nil {
				t.Fatalf("main: %v\n%s", err, stderr)
			}
			state, _ := fileCommand(t, j.read("statecmd.txt"))
			tc.tamper(t, state[stateDirName])
			extra := map[string]string{}
			if tc.state {
				extra = map[string]string{"STATE_key": state[stateKeyName], "STATE_dir": state[stateDirName]}
			}
			stdout, _, err := j.step(true, extra)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("post: %v, want a refusal saying %q", err, tc.want)
			}
			if !strings.Contains(stdout, "::error::") {
				t.Errorf("post did not annotate its failure:\n%s", stdout)
			}
			if _, err := os.Stat(filepath.Join(j.workspace, "chaperone.sigstore.json")); !errors.Is(err, os.ErrNotExist) {
				t.Error("post attested from a state it refused")
			}
			if summary := j.read("SUMMARY.md"); !strings.Contains(summary, "did not stop the session") || tableRows(summary) != 0 {
				t.Errorf("summary of a refused state:\n%s", summary)
			}
		})
	}
}

func TestActionMainRefusesUnservedDeliveries(t *testing.T) {
	st := stack(t, devstack.Options{})
	for _, mode := range []string{"endpoint", "file"} {
		j := newActionJob(t, st, "    env: GITHUB_TOKEN", "    env: GITHUB_TOKEN\n    deliver: "+mode)
		stdout, _, err := j.step(false, nil)
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "deliver: "+mode) || !strings.Contains(err.Error(), "chaperone run") {
			t.Errorf("deliver: %s: %v, want a config error pointing to chaperone run", mode, err)
		}
		if strings.Contains(stdout, "::add-mask::") || j.read("envs.txt") != "" {
			t.Errorf("deliver: %s: main issued before refusing", mode)
		}
	}
	for _, c := range st.Credentials() {
		t.Errorf("a credential was issued: %s", c.Provider)
	}
}

func TestActionInputsRewriteConfig(t *testing.T) {
	const doc = `version: 1
scopes:
  - {name: a, provider: github, address: "https://api.example.com", scope: o/r, identity: x}
  - {name: b, provider: github, address: "https://api.example.com", scope: o/r, identity: y, env: GH_TOKEN}
attest:
  signer: key:k.pem
`
	inputs := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	in, err := readActionInputs(inputs(map[string]string{
		"config": doc, "scopes": "b", "signer": "keyless", "fulcio-url": "https://fulcio.example",
		"subjects": "dist/*.tar.gz\nimage:ghcr.io/o/app:1\n# comment\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := actionConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	// What a started Session persists is the document in effect.
	again, err := ParseConfig(cfg.raw, "persisted")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Config{cfg, again} {
		if len(c.Scopes) != 1 || c.Scopes[0].Name != "b" || c.Attest.Signer != "keyless" || c.Attest.FulcioURL != "https://fulcio.example" {
			t.Errorf("config: scopes %v, attest %+v", c.Scopes, c.Attest)
		}
		want := []SubjectConfig{{Path: "dist/*.tar.gz"}, {Image: "ghcr.io/o/app:1"}}
		if len(c.Attest.Subjects) != 2 || c.Attest.Subjects[0] != want[0] || c.Attest.Subjects[1] != want[1] {
			t.Errorf("subjects %+v", c.Attest.Subjects)
		}
	}

	in, _ = readActionInputs(inputs(map[string]string{"config": doc, "attest": "false"}))
	if cfg, err := actionConfig(in); err != nil || cfg.Attest.Signer != "none" || len(cfg.Scopes) != 2 {
		t.Errorf("attest false: %v %+v", err, cfg)
	}
	for name, m := range map[string]map[string]string{
		"unknown scope":     {"config": doc, "scopes": "a,c"},
		"bad boolean":       {"config": doc, "attest": "yes"},
		"signer, no attest": {"config": doc, "attest": "false", "signer": "keyless"},
	} {
		in, err := readActionInputs(inputs(m))
		if err == nil {
			_, err = actionConfig(in)
		}
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) {
			t.Errorf("%s: %v, want a config error", name, err)
		}
	}
}

func TestStepSummaryEscapesAndScrubs(t *testing.T) {
	cfg, err := ParseConfig([]byte("version: 1\nscopes: [{name: a, provider: github, address: \"https://x\", scope: o/r, identity: i}]\nattest: {signer: \"kms:awskms:///alias/x\"}\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(Options{Config: cfg, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	s.addSecret("hunter2-secret-value")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sum := &Summary{
		Identity: attest.Identity{Subject: "repo:o/r:ref:refs/heads/main", Issuer: "https://issuer"},
		Grants: []attest.Grant{{Scope: "a", Provider: "github", Principal: "evil|<b>x</b>\nrow", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
			Revocation: attest.Revocation{Outcome: attest.RevocationFailed, Error: "HTTP 500: hunter2-secret-value"}}},
		Outcome:    "agent-error",
		JobSubject: attest.JobSubject("https://github.com/o/r/actions/runs/1"),
	}
	md := s.stepSummary(sum, "chaperone.sigstore.json", errors.New("scope a: revocation failed"))
	if strings.Contains(md, "hunter2") {
		t.Error("summary shows a secret")
	}
	if tableRows(md) != 1 || strings.Contains(md, "<b>") || !strings.Contains(md, `evil\|`) {
		t.Errorf("principal not escaped into one cell:\n%s", md)
	}
	for _, want := range []string{"1h0m0s (until 2026-01-02T04:04:05Z)", "**revocation failed**", "--key awskms:///alias/x", "[!CAUTION]"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
}
