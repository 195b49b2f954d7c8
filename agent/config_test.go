package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const validConfig = `version: 1
identity: {source: env}
scopes:
  - name: db
    provider: vault
    address: https://vault.example.com
    role: ci-deploy
    secrets:
      - {path: secret/data/ci/db, field: password, env: DB_PASSWORD}
  - name: repo
    provider: github
    address: https://octo-sts.example.com
    scope: org/repo
    identity: ci
    ttl: 30m
    deliver: file
attest:
  signer: key:cosign.key
`

func TestParseConfigValid(t *testing.T) {
	c, err := ParseConfig([]byte(validConfig), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Scopes); got != 2 {
		t.Fatalf("scopes = %d, want 2", got)
	}
	if c.Scopes[0].Deliver != "env" || c.Scopes[1].Deliver != "file" {
		t.Errorf("deliver = %q, %q; want env (default), file", c.Scopes[0].Deliver, c.Scopes[1].Deliver)
	}
	if c.Attest.Output != "chaperone.sigstore.json" {
		t.Errorf("default output = %q", c.Attest.Output)
	}
	if c.Identity.Source != "env" {
		t.Errorf("identity.source = %q", c.Identity.Source)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		want []string // substrings of the one-line error
	}{
		{"unknown top-level key", func(s string) string { return s + "bogus: 1\n" }, []string{"test.yml:19", `unknown key "bogus"`}},
		{"unknown scope key", func(s string) string {
			return strings.Replace(s, "    role: ci-deploy\n", "    role: ci-deploy\n    rol: x\n", 1)
		}, []string{"test.yml:8", `unknown key "scopes[0].rol"`}},
		{"unknown nested key", func(s string) string {
			return strings.Replace(s, "env: DB_PASSWORD}", "env: DB_PASSWORD, feild: x}", 1)
		}, []string{"test.yml:9", `scopes[0].secrets[0].feild`}},
		{"unknown attest key", func(s string) string { return s + "  signr: x\n" }, []string{"test.yml:19", `attest.signr`}},
		{"duplicate scope", func(s string) string { return strings.Replace(s, "name: repo", "name: db", 1) }, []string{`"db" is declared twice`}},
		{"bad duration", func(s string) string { return strings.Replace(s, "ttl: 30m", "ttl: soon", 1) }, []string{"test.yml:15", `scope "repo": ttl: invalid duration "soon"`}},
		{"missing role", func(s string) string { return strings.Replace(s, "    role: ci-deploy\n", "", 1) }, []string{`scope "db" (vault)`, "role is required"}},
		{"missing scope", func(s string) string { return strings.Replace(s, "    scope: org/repo\n", "", 1) }, []string{`scope "repo" (github)`, "scope is required"}},
		{"unknown provider", func(s string) string { return strings.Replace(s, "provider: vault", "provider: valut", 1) }, []string{`unknown provider "valut"`}},
		{"bad version", func(s string) string { return strings.Replace(s, "version: 1", "version: 2", 1) }, []string{"version must be 1"}},
		{"bad deliver", func(s string) string { return strings.Replace(s, "deliver: file", "deliver: pigeon", 1) }, []string{`deliver "pigeon"`}},
		{"bad identity", func(s string) string { return strings.Replace(s, "source: env", "source: magic", 1) }, []string{`identity.source "magic"`}},
		{"bad signer", func(s string) string { return strings.Replace(s, "key:cosign.key", "pgp:x", 1) }, []string{`attest.signer "pgp:x"`}},
		{"not yaml", func(string) string { return "version: [1\n" }, []string{"test.yml"}},
		{"empty", func(string) string { return "" }, []string{"empty"}},
		{"not a mapping", func(string) string { return "- a\n- b\n" }, []string{"mapping"}},
		{"no scopes", func(string) string { return "version: 1\n" }, []string{"no scopes"}},
		{"env name with a path", func(s string) string { return strings.Replace(s, "env: DB_PASSWORD", "env: ../etc/cron.d/x", 1) }, []string{`secrets[0].env "../etc/cron.d/x" is not a variable name`}},
		{"bad scope name", func(s string) string { return strings.Replace(s, "name: db", "name: 'DB prod'", 1) }, []string{`"DB prod"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.edit(validConfig)), "test.yml")
			if err == nil {
				t.Fatal("want an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError: %v", err, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadConfigInlineAndMissing(t *testing.T) {
	c, err := LoadConfig(validConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.source != "(inline)" {
		t.Errorf("source = %q", c.source)
	}
	_, err = LoadConfig(t.TempDir() + "/nope.yml")
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "file not found") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("version: 1\nscopes: [{name: a, provider: vault}]\n"))
	f.Add([]byte("{version: 1, scopes: 3}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz.yml")
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
	})
}

// TestParseConfigRefusesNumericDurations: a YAML integer in a duration
// key would otherwise be read as nanoseconds (3600 → 3.6µs).
func TestParseConfigRefusesNumericDurations(t *testing.T) {
	cases := []struct {
		name, scope string
		want        string
	}{
		{"aws duration", `
  - name: deploy
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/deploy
    region: eu-west-1
    duration: 3600
`, `test.yml:7: scope "deploy": duration: 3600 is a number, not a duration (write 3600s or 1h)`},
		{"github ttl", `
  - name: repo
    provider: github
    address: https://octo-sts.example.com
    scope: org/repo
    identity: ci
    ttl: 900
`, `test.yml:8: scope "repo": ttl: 900 is a number, not a duration (write 900s or 15m)`},
		{"gcp lifetime", `
  - name: gcloud
    provider: gcp
    workload-identity-provider: projects/1/locations/global/workloadIdentityPools/pool/providers/prov
    service-account: ci@p.iam.gserviceaccount.com
    lifetime: 90
`, `test.yml:7: scope "gcloud": lifetime: 90 is a number, not a duration (write 90s)`},
		{"token-exchange ttl, a float", `
  - name: api
    provider: token-exchange
    token-url: https://sts.example.com/token
    audience: sts
    ttl: 1.5
`, `test.yml:7: scope "api": ttl: 1.5 is a number, not a duration`},
		{"a timeout", `
  - name: kv
    provider: vault
    address: https://vault.example.com
    role: ci
    token-env: VAULT_TOKEN
timeouts:
  attempt: 10
`, `test.yml:9: timeouts.attempt: 10 is a number, not a duration (write 10s)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte("version: 1\nscopes:"+tc.scope), "test.yml")
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want a one-line config error containing %q", err, tc.want)
			}
		})
	}
}

// TestParseConfigRefusesSharedVariables: two scopes that hand the job the
// same variable would leave it whichever value sorts last.
func TestParseConfigRefusesSharedVariables(t *testing.T) {
	const vault = `
  - name: kv
    provider: vault
    address: https://vault.example.com
    role: ci
    secrets:
      - {path: secret/data/ci/db, field: password, env: %s}
`
	const github = `
  - name: repo
    provider: github
    address: https://octo-sts.example.com
    scope: org/repo
    identity: ci
`
	aws := func(name, region, prefix string) string {
		return fmt.Sprintf(`
  - name: %s
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/deploy
    region: %s
    env: {access-key-id: %sKEY_ID, secret-access-key: %sSECRET, session-token: %sTOKEN}
`, name, region, prefix, prefix, prefix)
	}
	cases := []struct {
		name   string
		scopes string
		want   string // "" when the config is fine
	}{
		{"vault env and github's default", fmt.Sprintf(vault, "GITHUB_TOKEN") + github,
			`scopes "kv" and "repo" both deliver GITHUB_TOKEN`},
		{"github's env set explicitly", fmt.Sprintf(vault, "GH") + github + "    env: GH\n",
			`scopes "kv" and "repo" both deliver GH`},
		{"file delivery is a variable too", fmt.Sprintf(vault, "GITHUB_TOKEN") + github + "    deliver: file\n",
			`scopes "kv" and "repo" both deliver GITHUB_TOKEN`},
		{"vault token-env and token exchange's default", fmt.Sprintf(vault, "DB") + "    token-env: ACCESS_TOKEN\n" + `
  - name: api
    provider: token-exchange
    token-url: https://sts.example.com/token
    audience: sts
`, `scopes "kv" and "api" both deliver ACCESS_TOKEN`},
		{"aws's default names", fmt.Sprintf(vault, "AWS_SESSION_TOKEN") + `
  - name: deploy
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/deploy
    region: eu-west-1
`, `scopes "kv" and "deploy" both deliver AWS_SESSION_TOKEN`},
		{"gcp's default", fmt.Sprintf(vault, "GOOGLE_OAUTH_ACCESS_TOKEN") + `
  - name: gcloud
    provider: gcp
    workload-identity-provider: projects/1/locations/global/workloadIdentityPools/pool/providers/prov
`, `scopes "kv" and "gcloud" both deliver GOOGLE_OAUTH_ACCESS_TOKEN`},
		{"azure's default", fmt.Sprintf(vault, "AZURE_ACCESS_TOKEN") + `
  - name: az
    provider: azure
    tenant-id: 00000000-0000-0000-0000-000000000001
    client-id: 00000000-0000-0000-0000-000000000002
`, `scopes "kv" and "az" both deliver AZURE_ACCESS_TOKEN`},
		{"a secret over another scope's setting", fmt.Sprintf(vault, "AWS_REGION") + aws("deploy", "eu-west-1", "A_"),
			`scopes "kv" and "deploy" both deliver AWS_REGION`},
		{"two regions", aws("prod", "eu-west-1", "P_") + aws("staging", "us-east-1", "S_"),
			`scopes "prod" and "staging" both deliver AWS_REGION`},
		{"one region twice is the same value", aws("prod", "eu-west-1", "P_") + aws("staging", "eu-west-1", "S_"), ""},
		{"endpoint delivery keeps the token out of the environment", fmt.Sprintf(vault, "GITHUB_TOKEN") + github + "    deliver: endpoint\n", ""},
		{"distinct names", fmt.Sprintf(vault, "DB_PASSWORD") + github, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte("version: 1\nscopes:"+tc.scopes), "test.yml")
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v; want a one-line config error containing %q", err, tc.want)
			}
		})
	}
}
