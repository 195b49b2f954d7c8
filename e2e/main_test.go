// Package e2e tests the built chaperone binary as users run it: real
// processes and pipes, the devstack served by `chaperone devstack`, and
// stock cosign verifying what chaperone signs.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the chaperone built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaperone-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "chaperone")
	build := exec.Command("go", "build", "-o", binary, "../cmd/chaperone")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building chaperone:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devstack is a running `chaperone devstack` and the environment it wrote.
type devstack struct {
	env map[string]string
}

func (d *devstack) environ() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range d.env {
		out = append(out, k+"="+v)
	}
	return out
}

// startDevstack runs `chaperone devstack --env-file F` until the test ends.
func startDevstack(t *testing.T, platform string, extra ...string) *devstack {
	t.Helper()
	dir := t.TempDir()
	envFile := filepath.Join(dir, "devstack.env")
	args := append([]string{"devstack", "--env-file", envFile, "--platform", platform, "--dir", filepath.Join(dir, "stack")}, extra...)
	cmd := exec.Command(binary, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("devstack did not stop on SIGINT; log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(envFile); err == nil && bytes.Contains(data, []byte("CHAPERONE_DEVSTACK_URL=")) {
			return &devstack{env: parseEnvFile(t, data)}
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack wrote no env file in 30s; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func parseEnvFile(t *testing.T, data []byte) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env file line without '=': %q", line)
		}
		env[k] = v
	}
	return env
}

// result is one finished chaperone process.
type result struct {
	code           int
	stdout, stderr string
}

// chaperone runs the binary in dir with env and returns what it did.
func chaperone(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaperone %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// credential is one entry of GET /devstack/credentials.
type credential struct {
	Provider    string `json:"provider"`
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Revoked     bool   `json:"revoked"`
}

func (d *devstack) credentials(t *testing.T) []credential {
	t.Helper()
	var body struct {
		Credentials []credential `json:"credentials"`
	}
	getJSON(t, d.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/credentials", nil, &body)
	return body.Credentials
}

// seededSecrets reads, as a client of the Vault stand-in would, the values
// the generated config hands to jobs, so tests can prove none leaked.
func (d *devstack) seededSecrets(t *testing.T) []string {
	t.Helper()
	var minted struct {
		Value string `json:"value"`
	}
	platform := "github"
	if d.env["GITLAB_CI"] == "true" {
		platform = "gitlab" // the Vault role binds the platform's claims
	}
	postJSON(t, d.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/token?platform="+platform+"&aud=chaperone-devstack", nil, &minted)
	var login struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	body, _ := json.Marshal(map[string]string{"role": "ci", "jwt": minted.Value})
	postJSON(t, d.env["CHAPERONE_DEVSTACK_VAULT_ADDR"]+"/v1/auth/jwt/login", body, &login)
	var out []string
	for _, path := range []string{"secret/data/ci/db", "secret/data/ci/api"} {
		var kv struct {
			Data struct {
				Data map[string]any `json:"data"`
			} `json:"data"`
		}
		getJSON(t, d.env["CHAPERONE_DEVSTACK_VAULT_ADDR"]+"/v1/"+path, http.Header{"X-Vault-Token": {login.Auth.ClientToken}}, &kv)
		for _, v := range kv.Data.Data {
			if s, ok := v.(string); ok && len(s) >= 8 {
				out = append(out, s)
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("expected at least 3 seeded secrets, got %d", len(out))
	}
	return out
}

func getJSON(t *testing.T, u string, h http.Header, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	doJSON(t, req, out)
}

func postJSON(t *testing.T, u string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	doJSON(t, req, out)
}

func doJSON(t *testing.T, req *http.Request, out any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		u, _ := url.Parse(req.URL.String())
		t.Fatalf("%s %s: HTTP %d: %s", req.Method, u.Path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: %v", req.URL.Path, err)
	}
}

// assertNoSecrets fails if any of secrets appears in any of the texts.
func assertNoSecrets(t *testing.T, secrets []string, texts ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret %.4s… leaked into output", s)
			}
		}
	}
}

// assertOneLineError checks a failing chaperone printed exactly one error
// line and no secret.
func assertOneLineError(t *testing.T, r result, code int, want string, secrets []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.HasPrefix(l, "chaperone: ") && !strings.Contains(l, "grant") && !strings.Contains(l, "attest") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Errorf("want one error line, got %d:\n%s", len(errLines), r.stderr)
	} else if !strings.Contains(errLines[0], want) {
		t.Errorf("error line %q does not mention %q", errLines[0], want)
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
}
