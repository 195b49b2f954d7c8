package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const consumingConfig = `version: 1
identity: {source: auto}
scopes:
  - name: api
    provider: token-exchange
    token-url: https://auth.example.com/token
    client-id: ci
    client-secret-env: TX_SECRET
  - name: db
    provider: vault
    address: https://vault.example.com
    role: ci
    id-token-var: VAULT_ID_TOKEN
    secrets: [{path: secret/data/ci/db, field: password, env: DB_PASSWORD}]
attest: {signer: keyless}
`

// TestEnvironDropsConsumedVariables: the variables chaperone reads for
// itself (ID tokens, a client secret) do not reach the job's commands,
// unless keep-env names them; everything else does.
func TestEnvironDropsConsumedVariables(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/home/ci", "CHAPERONE_ID_TOKEN=a.b.c", "VAULT_ID_TOKEN=d.e.f",
		"SIGSTORE_ID_TOKEN=g.h.i", "TX_SECRET=s3cr3t-value", "UNRELATED_TOKEN=keep-me"}
	for _, tc := range []struct {
		name, keep string
		want       []string
	}{
		{"by default", "", []string{"PATH", "HOME", "UNRELATED_TOKEN"}},
		{"kept on request", "keep-env: [TX_SECRET, SIGSTORE_ID_TOKEN]\n", []string{"PATH", "HOME", "SIGSTORE_ID_TOKEN", "TX_SECRET", "UNRELATED_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(consumingConfig+tc.keep), "test.yml")
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSession(Options{Config: cfg, Environ: base, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range s.Environ() {
				name, _, _ := strings.Cut(kv, "=")
				got = append(got, name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("job environment %v, want %v", got, want)
			}
		})
	}
}

// TestConsumedEnvFollowsTheIdentitySource: which token variables are
// consumed depends on where the identity comes from.
func TestConsumedEnvFollowsTheIdentitySource(t *testing.T) {
	for src, want := range map[string][]string{
		"auto":   {"CHAPERONE_ID_TOKEN", "VAULT_ID_TOKEN", "SIGSTORE_ID_TOKEN", "TX_SECRET"},
		"env":    {"MY_TOKEN", "VAULT_ID_TOKEN", "SIGSTORE_ID_TOKEN", "TX_SECRET"},
		"gitlab": {"CHAPERONE_ID_TOKEN", "VAULT_ID_TOKEN", "SIGSTORE_ID_TOKEN", "TX_SECRET"},
		"github": {"TX_SECRET"},
	} {
		doc := strings.Replace(consumingConfig, "{source: auto}", "{source: "+src+", env: MY_TOKEN}", 1)
		if src == "auto" || src == "gitlab" {
			doc = strings.Replace(consumingConfig, "{source: auto}", "{source: "+src+"}", 1)
		}
		cfg, err := ParseConfig([]byte(doc), "test.yml")
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.consumedEnv(); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("source %s consumes %v, want %v", src, got, want)
		}
	}
}

// TestKeepEnvRefusesWhatIsNotConsumed: a keep-env entry that chaperone
// does not read is most likely misspelt; it is refused at its line.
func TestKeepEnvRefusesWhatIsNotConsumed(t *testing.T) {
	_, err := ParseConfig([]byte(consumingConfig+"keep-env: [TX_SECRET, CHAPERONE_ID_TOKN]\n"), "test.yml")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "test.yml:16:") || !strings.Contains(err.Error(), "keep-env[1]: chaperone does not read CHAPERONE_ID_TOKN") {
		t.Errorf("error %v", err)
	}
}

// TestExportShellUnsetsConsumedVariables: in start/eval mode the shell
// loses the consumed variables too, unless keep-env names them.
func TestExportShellUnsetsConsumedVariables(t *testing.T) {
	cfg, err := ParseConfig([]byte(consumingConfig+"keep-env: [TX_SECRET]\n"), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(Options{Config: cfg, Environ: []string{}, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := s.ExportShell(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unset VAULT_ID_TOKEN\n", "unset SIGSTORE_ID_TOKEN\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("export lines lack %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "TX_SECRET") {
		t.Errorf("a kept variable is unset:\n%s", out.String())
	}
}
