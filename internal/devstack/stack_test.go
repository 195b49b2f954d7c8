package devstack

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// startStack starts a stack that the test's cleanup closes.
func startStack(t *testing.T, opts Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// call sends a request and returns the status and body.
func call(t *testing.T, method, rawURL string, header http.Header, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// decode unmarshals JSON or fails the test.
func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

// envMap turns NAME=value pairs into a map, failing on duplicates.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("env entry %q has no '='", kv)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("env name %s appears twice", k)
		}
		m[k] = v
	}
	return m
}

var commonEnvNames = []string{
	"CHAPERONE_CONFIG", "CHAPERONE_DEVSTACK_URL", "CHAPERONE_DEVSTACK_ISSUER",
	"CHAPERONE_DEVSTACK_VAULT_ADDR", "CHAPERONE_DEVSTACK_STS_URL", "CHAPERONE_DEVSTACK_GITHUB_STS_URL", "CHAPERONE_DEVSTACK_GITHUB_API_URL",
	"CHAPERONE_DEVSTACK_REGISTRY", "CHAPERONE_DEVSTACK_SIGNING_KEY", "CHAPERONE_DEVSTACK_PUBLIC_KEY",
	"CHAPERONE_DEVSTACK_GCP_STS_URL", "CHAPERONE_DEVSTACK_GCP_IAM_URL", "CHAPERONE_DEVSTACK_TOKEN_URL",
	"CHAPERONE_DEVSTACK_TOKEN_REVOCATION_URL", "CHAPERONE_DEVSTACK_TOKEN_RESOURCE_URL", "CHAPERONE_DEVSTACK_AZURE_AUTHORITY_URL",
	"CHAPERONE_DEVSTACK_VAULT_TOKEN",
}

func TestEnvFileGitHub(t *testing.T) {
	s := startStack(t, Options{})
	path := filepath.Join(t.TempDir(), "devstack.env")
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteEnvFile(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("env file mode = %v, want 0600", info.Mode().Perm())
	}
	env := readEnvFile(t, path)
	want := append([]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
		"GITHUB_ACTIONS", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_REPOSITORY_ID",
		"GITHUB_REPOSITORY_OWNER", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_RUN_NUMBER",
		"GITHUB_JOB", "GITHUB_WORKFLOW", "GITHUB_WORKFLOW_REF", "GITHUB_REF", "GITHUB_SHA",
		"GITHUB_ACTOR", "RUNNER_ENVIRONMENT", "GITHUB_API_URL",
	}, commonEnvNames...)
	assertNames(t, env, want)

	checks := map[string]string{
		"GITHUB_ACTIONS":                          "true",
		"GITHUB_REPOSITORY":                       Repository,
		"GITHUB_REPOSITORY_OWNER":                 RepositoryOwner,
		"CHAPERONE_CONFIG":                        s.ConfigPath,
		"CHAPERONE_DEVSTACK_URL":                  s.URL,
		"CHAPERONE_DEVSTACK_ISSUER":               s.IssuerURL,
		"CHAPERONE_DEVSTACK_VAULT_ADDR":           s.VaultAddr,
		"CHAPERONE_DEVSTACK_STS_URL":              s.STSURL,
		"CHAPERONE_DEVSTACK_GITHUB_STS_URL":       s.GitHubSTSURL,
		"CHAPERONE_DEVSTACK_GITHUB_API_URL":       s.GitHubAPIURL,
		"GITHUB_API_URL":                          s.GitHubAPIURL,
		"CHAPERONE_DEVSTACK_REGISTRY":             s.Registry,
		"CHAPERONE_DEVSTACK_SIGNING_KEY":          s.SigningKeyPath,
		"CHAPERONE_DEVSTACK_PUBLIC_KEY":           s.PublicKeyPath,
		"CHAPERONE_DEVSTACK_GCP_STS_URL":          s.GCPSTSURL,
		"CHAPERONE_DEVSTACK_GCP_IAM_URL":          s.GCPIAMURL,
		"CHAPERONE_DEVSTACK_TOKEN_URL":            s.TokenExchangeURL,
		"CHAPERONE_DEVSTACK_TOKEN_REVOCATION_URL": s.TokenRevocationURL,
		"CHAPERONE_DEVSTACK_TOKEN_RESOURCE_URL":   s.TokenResourceURL,
		"CHAPERONE_DEVSTACK_AZURE_AUTHORITY_URL":  s.AzureAuthorityURL,
	}
	for k, v := range checks {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	// The file is the job's environment plus the Vault root token, which
	// the job's environment never holds.
	if !slices.Equal(append(s.Env(), "CHAPERONE_DEVSTACK_VAULT_TOKEN="+s.VaultRootToken()), fileLines(t, path)) {
		t.Errorf("env file differs from Env() and the root token")
	}
	if slices.ContainsFunc(s.Env(), func(kv string) bool { return strings.Contains(kv, s.VaultRootToken()) }) {
		t.Errorf("Env() holds the Vault root token")
	}

	// The variables describe the same job as the token claims.
	claims := claimsOf(t, actionsToken(t, env, "x"))
	for name, claim := range map[string]string{
		"GITHUB_REPOSITORY": "repository", "GITHUB_REPOSITORY_ID": "repository_id",
		"GITHUB_REPOSITORY_OWNER": "repository_owner", "GITHUB_RUN_ID": "run_id",
		"GITHUB_RUN_ATTEMPT": "run_attempt", "GITHUB_RUN_NUMBER": "run_number",
		"GITHUB_WORKFLOW": "workflow", "GITHUB_WORKFLOW_REF": "workflow_ref", "GITHUB_REF": "ref",
		"GITHUB_SHA": "sha", "GITHUB_ACTOR": "actor", "RUNNER_ENVIRONMENT": "runner_environment",
	} {
		if env[name] != claims[claim] {
			t.Errorf("%s = %q but claim %s = %v", name, env[name], claim, claims[claim])
		}
	}
	if claims["aud"] != "x" {
		t.Errorf("aud = %v, want x", claims["aud"])
	}
}

func TestEnvFileGitLab(t *testing.T) {
	s := startStack(t, Options{Platform: PlatformGitLab})
	path := filepath.Join(t.TempDir(), "devstack.env")
	if err := s.WriteEnvFile(path); err != nil {
		t.Fatal(err)
	}
	env := readEnvFile(t, path)
	want := append([]string{
		"GITLAB_CI", "CI_SERVER_URL", "CI_PROJECT_PATH", "CI_PROJECT_ID", "CI_PIPELINE_ID",
		"CI_JOB_ID", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_JOB_URL", "CHAPERONE_ID_TOKEN",
	}, commonEnvNames...)
	assertNames(t, env, want)

	claims := claimsOf(t, env["CHAPERONE_ID_TOKEN"])
	if claims["aud"] != Audience || claims["iss"] != s.IssuerURL {
		t.Errorf("ID token aud/iss = %v/%v", claims["aud"], claims["iss"])
	}
	for name, claim := range map[string]string{
		"CI_PROJECT_PATH": "project_path", "CI_PROJECT_ID": "project_id", "CI_PIPELINE_ID": "pipeline_id",
		"CI_JOB_ID": "job_id", "CI_COMMIT_SHA": "sha", "CI_COMMIT_REF_NAME": "ref",
	} {
		if env[name] != claims[claim] {
			t.Errorf("%s = %q but claim %s = %v", name, env[name], claim, claims[claim])
		}
	}
	if !strings.HasSuffix(env["CI_JOB_URL"], "/-/jobs/"+env["CI_JOB_ID"]) {
		t.Errorf("CI_JOB_URL = %q", env["CI_JOB_URL"])
	}
	// Role ci binds project_path on a GitLab stack: the env's token logs in.
	status, body := vaultLogin(t, s, VaultRole, env["CHAPERONE_ID_TOKEN"])
	if status != http.StatusOK {
		t.Fatalf("vault login with CHAPERONE_ID_TOKEN: %d %s", status, body)
	}
}

func TestWriteEnvFileRefusesUnquotableValues(t *testing.T) {
	s := startStack(t, Options{Dir: filepath.Join(t.TempDir(), "with space")})
	err := s.WriteEnvFile(filepath.Join(t.TempDir(), "env"))
	if err == nil || !strings.Contains(err.Error(), "CHAPERONE_CONFIG") {
		t.Fatalf("WriteEnvFile with a space in Dir: err = %v, want a refusal naming CHAPERONE_CONFIG", err)
	}
	// The config quotes the path, so it still parses to the right value.
	cfg := readConfig(t, s.ConfigPath)
	if got := cfg.Attest.Signer; got != "key:"+s.SigningKeyPath {
		t.Errorf("signer = %q, want key:%s", got, s.SigningKeyPath)
	}
}

// readEnvFile parses NAME=value lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	return envMap(t, fileLines(t, path))
}

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func assertNames(t *testing.T, env map[string]string, want []string) {
	t.Helper()
	var got []string
	for k, v := range env {
		got = append(got, k)
		if v == "" {
			t.Errorf("%s is empty", k)
		}
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("env names:\n got %v\nwant %v", got, want)
	}
}

type testConfig struct {
	Version  int               `yaml:"version"`
	Identity map[string]string `yaml:"identity"`
	Scopes   []struct {
		Name     string `yaml:"name"`
		Provider string `yaml:"provider"`
		Address  string `yaml:"address"`
		API      string `yaml:"api"`
		Role     string `yaml:"role"`
		Audience string `yaml:"audience"`
		Scope    string `yaml:"scope"`
		Identity string `yaml:"identity"`
		Env      string `yaml:"env"`
		Secrets  []struct {
			Path  string `yaml:"path"`
			Field string `yaml:"field"`
			Env   string `yaml:"env"`
		} `yaml:"secrets"`
	} `yaml:"scopes"`
	Attest struct {
		Signer string `yaml:"signer"`
		Output string `yaml:"output"`
	} `yaml:"attest"`
}

func readConfig(t *testing.T, path string) testConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg testConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("config does not parse: %v\n%s", err, data)
	}
	return cfg
}

func TestGeneratedFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stack")
	s := startStack(t, Options{Dir: dir})
	if s.Dir != dir {
		t.Errorf("Dir = %q, want %q", s.Dir, dir)
	}
	cfg := readConfig(t, s.ConfigPath)
	if cfg.Version != 1 || cfg.Identity["source"] != "auto" || len(cfg.Scopes) != 2 {
		t.Fatalf("config = %+v", cfg)
	}
	db, repo := cfg.Scopes[0], cfg.Scopes[1]
	if db.Name != "db" || db.Provider != "vault" || db.Address != s.VaultAddr || db.Role != VaultRole || db.Audience != Audience || len(db.Secrets) != 3 {
		t.Errorf("db scope = %+v", db)
	}
	for _, sec := range db.Secrets {
		if !strings.HasPrefix(sec.Path, "secret/data/ci/") || sec.Field == "" || sec.Env == "" {
			t.Errorf("secret %+v", sec)
		}
	}
	if repo.Name != "repo" || repo.Provider != "github" || repo.Address != s.GitHubSTSURL || repo.API != s.GitHubAPIURL || repo.Audience != Audience ||
		repo.Scope != Repository || repo.Identity != GitHubIdentity || repo.Env != "GITHUB_TOKEN" {
		t.Errorf("repo scope = %+v", repo)
	}
	if cfg.Attest.Signer != "key:"+s.SigningKeyPath || cfg.Attest.Output != "chaperone.sigstore.json" {
		t.Errorf("attest = %+v", cfg.Attest)
	}

	info, err := os.Stat(s.SigningKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode = %v, want 0600", info.Mode().Perm())
	}
	priv := pemBlock(t, s.SigningKeyPath, "PRIVATE KEY")
	key, err := x509.ParsePKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("signing key is %T, want ECDSA P-256", key)
	}
	pub, err := x509.ParsePKIXPublicKey(pemBlock(t, s.PublicKeyPath, "PUBLIC KEY"))
	if err != nil {
		t.Fatal(err)
	}
	if !ec.PublicKey.Equal(pub) {
		t.Error("public key file does not match the signing key")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.ConfigPath); err != nil {
		t.Errorf("Close removed a caller-provided Dir: %v", err)
	}
}

func pemBlock(t *testing.T, path, typ string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != typ || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("%s: want one PEM %q block", path, typ)
	}
	return block.Bytes
}

func TestCloseStopsServicesAndRemovesTempDir(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{s.Registry}
	for _, u := range []string{s.URL, s.VaultAddr, s.GitHubSTSURL, s.GitHubAPIURL, s.STSURL, s.GCPSTSURL, s.GCPIAMURL, s.TokenExchangeURL, s.AzureAuthorityURL} {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Hostname() != "127.0.0.1" {
			t.Errorf("%s does not listen on 127.0.0.1", u)
		}
		addrs = append(addrs, parsed.Host)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still exists after Close (err %v)", s.Dir, err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, opts := range []Options{{Platform: "jenkins"}, {TokenTTL: -time.Second}, {CredentialTTL: -time.Second}, {CredentialTTL: time.Millisecond}} {
		if s, err := Start(context.Background(), opts); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", opts)
		}
	}
}

func TestRegistryServesOCIDistribution(t *testing.T) {
	s := startStack(t, Options{})
	status, _ := call(t, http.MethodGet, "http://"+s.Registry+"/v2/", nil, "")
	if status != http.StatusOK {
		t.Fatalf("GET /v2/ = %d", status)
	}
	// A monolithic blob upload, then a read back.
	blob := "devstack blob " + randomHex(8)
	sum := sha256.Sum256([]byte(blob))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	status, body := call(t, http.MethodPost, "http://"+s.Registry+"/v2/demo/blobs/uploads/?digest="+digest, nil, blob)
	if status != http.StatusCreated {
		t.Fatalf("blob upload = %d %s", status, body)
	}
	status, body = call(t, http.MethodGet, "http://"+s.Registry+"/v2/demo/blobs/"+digest, nil, "")
	if status != http.StatusOK || string(body) != blob {
		t.Fatalf("blob read = %d %q", status, body)
	}
}
