package vault_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/vault"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

func TestIssueReadsSecretsAndRevokes(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	p, err := vault.New(vault.Config{
		Address: st.VaultAddr, Role: devstack.VaultRole, Audience: devstack.Audience, TokenEnv: "VAULT_TOKEN",
		Secrets: []vault.Secret{{Path: "secret/data/ci/db", Field: "password", Env: "DB_PASSWORD"}, {Path: "secret/data/ci/db", Field: "username", Env: "DB_USER"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub}))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Values) != 3 || g.Values[0].Name != "VAULT_TOKEN" || !strings.HasPrefix(g.Values[0].Secret, "hvs.") {
		t.Fatalf("values = %d, first %q", len(g.Values), g.Values[0].Name)
	}
	seeded := strings.Join(st.Secrets(), "\x00")
	for _, v := range g.Values[1:] {
		if !strings.Contains(seeded, v.Secret) {
			t.Errorf("%s is not a seeded value", v.Name)
		}
	}
	if !g.Revocable || g.ExpiresAt.Before(time.Now()) || len(g.Fingerprint) != 64 {
		t.Errorf("grant = revocable %v expires %v fingerprint %q", g.Revocable, g.ExpiresAt, g.Fingerprint)
	}
	creds := st.Credentials()
	if len(creds) != 1 || creds[0].Fingerprint != g.Fingerprint {
		t.Fatalf("issuer ledger %+v does not hold the grant's fingerprint", creds)
	}
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if !st.Credentials()[0].Revoked {
		t.Error("issuer does not show the token revoked")
	}
	// A second revoke is refused: the token no longer exists.
	if err := p.Revoke(context.Background(), g); err == nil {
		t.Error("revoking a revoked token succeeded")
	}
}

func TestIssueFailures(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []struct {
		name string
		cfg  vault.Config
		want string
	}{
		{"wrong audience", vault.Config{Role: "ci", Audience: "https://elsewhere", Secrets: []vault.Secret{{Path: "secret/data/ci/db", Field: "password", Env: "X"}}}, "HTTP 400"},
		{"unknown role", vault.Config{Role: "nope", Audience: devstack.Audience, Secrets: []vault.Secret{{Path: "secret/data/ci/db", Field: "password", Env: "X"}}}, "HTTP 400"},
		{"missing path", vault.Config{Role: "ci", Audience: devstack.Audience, Secrets: []vault.Secret{{Path: "secret/data/ci/none", Field: "password", Env: "X"}}}, "no secret at this path"},
		{"missing field", vault.Config{Role: "ci", Audience: devstack.Audience, Secrets: []vault.Secret{{Path: "secret/data/ci/db", Field: "pin", Env: "X"}}}, `field "pin" not found`},
		{"outside policy", vault.Config{Role: "ci", Audience: devstack.Audience, Secrets: []vault.Secret{{Path: "secret/data/admin/root", Field: "x", Env: "X"}}}, "HTTP 403"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Address = st.VaultAddr
			p, err := vault.New(tc.cfg, provider.WithRetryDeadline(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Every token a failed read obtained was revoked before Issue returned.
	for _, c := range st.Credentials() {
		if !c.Revoked {
			t.Errorf("token %s left live after a failed issue", c.ID)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []vault.Config{
		{},
		{Address: "vault.example.com", Role: "r", TokenEnv: "T"},
		{Address: "https://v", TokenEnv: "T"},
		{Address: "https://v", Role: "r"},
		{Address: "https://v", Role: "r", Secrets: []vault.Secret{{Path: "p", Field: "f"}}},
		{Address: "https://v", Role: "r", Secrets: []vault.Secret{{Path: "p", Field: "f", Env: "A"}, {Path: "q", Field: "g", Env: "A"}}},
	} {
		if _, err := vault.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		} else if errors.Unwrap(err) != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
}

// openBao answers as a real OpenBao dev server does for a token whose ACL
// lacks the path (an exact-path policy and a mistyped path): the login
// succeeds, the KV read is a 403 whose reason is go-multierror's
// multi-line text, and revoke-self works.
func openBao(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/auth/jwt/login":
			_, _ = io.WriteString(w, `{"auth":{"client_token":"s.0penBaoT0kenValue","accessor":"acc","lease_duration":900}}`)
		case "/v1/auth/token/revoke-self":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`+"\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestReadRefusalKeepsReasonAndHints: OpenBao's multi-line reason reaches
// the message whole, and a 403 on a KV read says which path and which
// role's policy to check.
func TestReadRefusalKeepsReasonAndHints(t *testing.T) {
	srv := openBao(t)
	p, err := vault.New(vault.Config{Address: srv.URL, Role: "ci-deploy", Audience: "bao",
		Secrets: []vault.Secret{{Path: "secret/data/ci/missing", Field: "password", Env: "X"}}}, provider.WithRetryDeadline(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Issue(context.Background(), staticToken("header.payload.sig"))
	if err == nil {
		t.Fatal("a refused read issued a grant")
	}
	msg := err.Error()
	for _, want := range []string{
		"vault read secret/data/ci/missing: HTTP 403: 1 error occurred: * permission denied",
		`"secret/data/ci/missing"`, `role "ci-deploy"`, "policy", "read",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.ContainsAny(msg, "\n\t") || strings.Contains(msg, "s.0penBaoT0kenValue") {
		t.Errorf("message is not one clean line without the token: %q", msg)
	}

	// A KV v1-style path to a KV v2 engine is the usual mistake.
	p, err = vault.New(vault.Config{Address: srv.URL, Role: "ci-deploy", Audience: "bao",
		Secrets: []vault.Secret{{Path: "secret/ci/db", Field: "password", Env: "X"}}}, provider.WithRetryDeadline(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = p.Issue(context.Background(), staticToken("header.payload.sig")); err == nil || !strings.Contains(err.Error(), "secret/data/NAME") {
		t.Errorf("err = %v, want the KV v2 path shape", err)
	}
}

type staticToken string

func (s staticToken) Token(context.Context, string) (string, error) { return string(s), nil }

// policies narrow the job's token to a child with exactly those policies,
// which is what the job gets and what reads; a policy outside the role's
// is refused by Vault, with nothing left valid; revoking the grant
// revokes the login token and the child.
func TestNarrowedPolicies(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub})
	cfg := vault.Config{
		Address: st.VaultAddr, Role: devstack.VaultRole, Audience: devstack.Audience, TokenEnv: "VAULT_TOKEN",
		Policies: []string{devstack.VaultReadDBPolicy}, TTL: 10 * time.Minute,
		Secrets: []vault.Secret{{Path: "secret/data/ci/db", Field: "password", Env: "DB_PASSWORD"}},
	}
	p, err := vault.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	if g.Restrictions == nil || strings.Join(g.Restrictions.Policies, ",") != devstack.VaultReadDBPolicy {
		t.Errorf("restrictions %+v, want exactly read-db", g.Restrictions)
	}
	if d := time.Until(g.ExpiresAt); d > 10*time.Minute || d < 9*time.Minute {
		t.Errorf("expires in %v, want the 10m ttl", d)
	}
	// The handed-out token is the child: it reads ci/db and nothing else.
	child := g.Values[0].Secret
	sum := sha256.Sum256([]byte(child))
	if g.Fingerprint != hex.EncodeToString(sum[:]) || g.Private["token"] == child {
		t.Errorf("the fingerprint is not the child's, or the child is what revocation uses")
	}
	req, _ := http.NewRequest(http.MethodGet, st.VaultAddr+"/v1/secret/data/ci/api", nil)
	req.Header.Set("X-Vault-Token", child)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := resp.StatusCode; code != http.StatusForbidden {
		t.Errorf("the read-db token read ci/api: %d", code)
	}
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, c := range st.Credentials() {
		if c.Provider == devstack.ProviderVault && c.Revoked {
			revoked++
		}
	}
	if revoked != 2 {
		t.Errorf("%d vault tokens revoked, want the login token and its child", revoked)
	}

	cfg.Policies = []string{"admin"}
	p, _ = vault.New(cfg)
	if _, err := p.Issue(context.Background(), tokens); err == nil || !strings.Contains(err.Error(), "child policies must be subset of parent") {
		t.Errorf("a policy outside the role's: %v", err)
	}
	for _, c := range st.Credentials() {
		if c.Provider == devstack.ProviderVault && !c.Revoked {
			t.Errorf("a refused narrowing left token %s valid", c.ID)
		}
	}
}
