package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// editedConfig writes the devstack's generated config with one edit.
func editedConfig(t *testing.T, ds *devstack, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(ds.env["CHAPERONE_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("generated config has no %q:\n%s", old, data)
	}
	path := filepath.Join(t.TempDir(), "chaperone.yml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		drop := false
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func TestErrors(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	secrets = append(secrets, ds.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown config key", ds.environ(),
			[]string{"run", "--config", editedConfig(t, ds, "    role: ci\n", "    role: ci\n    rolle: x\n"), "--", "true"},
			2, `unknown key "scopes[0].rolle"`},
		{"no OIDC endpoint", withoutEnv(ds.environ(), "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_ACTIONS"),
			[]string{"run", "--", "true"}, 125, "no OIDC identity found"},
		{"wrong audience", ds.environ(),
			[]string{"run", "--config", editedConfig(t, ds, "audience: chaperone-devstack", "audience: https://evil.example"), "--", "true"},
			125, "vault login: HTTP 400"},
		{"missing vault path", ds.environ(),
			[]string{"run", "--config", editedConfig(t, ds, "secret/data/ci/api", "secret/data/ci/nope"), "--", "true"},
			125, "secret/data/ci/nope: no secret at this path"},
		{"no command", ds.environ(), []string{"run"}, 2, "no command given"},
		{"unknown flag", ds.environ(), []string{"run", "--bogus", "--", "true"}, 2, "bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := chaperone(t, t.TempDir(), tc.env, tc.args...)
			assertOneLineError(t, r, tc.code, tc.want, secrets)
		})
	}
}

func TestExpiredGitLabToken(t *testing.T) {
	ds := startDevstack(t, "gitlab", "--token-ttl", "1s")
	time.Sleep(2 * time.Second)
	r := chaperone(t, t.TempDir(), ds.environ(), "run", "--", "true")
	assertOneLineError(t, r, 125, "CHAPERONE_ID_TOKEN: token expired at", []string{ds.env["CHAPERONE_ID_TOKEN"]})
	if n := len(ds.credentials(t)); n != 0 {
		t.Errorf("an expired token obtained %d credentials", n)
	}
}

func TestGitLabRun(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	dir := t.TempDir()
	const script = `printf 'token=%s pw=%s\n' "$CHAPERONE_ID_TOKEN" "$DB_PASSWORD"`
	r := chaperone(t, dir, ds.environ(), "run", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	// GitLab's mask token, as its own runner writes; the ID token chaperone
	// consumed is not the job's.
	if strings.TrimSpace(r.stdout) != "token= pw=[MASKED]" {
		t.Errorf("job output %q", r.stdout)
	}
	assertRevoked(t, ds, 0)
	// Kept for the job, the ID token is masked too.
	cfg := editedConfig(t, ds, "attest:", "keep-env: [CHAPERONE_ID_TOKEN]\nattest:")
	r = chaperone(t, t.TempDir(), ds.environ(), "run", "--config", cfg, "--", "sh", "-c", script)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "token=[MASKED] pw=[MASKED]" {
		t.Errorf("with keep-env: exit %d, job output %q", r.code, r.stdout)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
