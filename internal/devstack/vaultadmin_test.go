package devstack

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// vaultCall calls the Vault stand-in with token as X-Vault-Token.
func vaultCall(t *testing.T, s *Stack, method, path, token string, body any) (int, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	h := http.Header{}
	if token != "" {
		h.Set("X-Vault-Token", token)
	}
	return call(t, method, s.VaultAddr+"/v1/"+path, h, string(raw))
}

// A role and a policy written through Vault's API with the root token
// govern logins and reads from then on; other tokens may not write them.
func TestVaultRoleAndPolicyWrites(t *testing.T) {
	s := startStack(t, Options{})
	root := s.VaultRootToken()
	job, _ := s.MintToken("", Audience)
	client := vaultClientToken(t, s, job)
	role := map[string]any{
		"role_type": "jwt", "bound_audiences": []string{Audience}, "user_claim": "sub",
		"bound_claims_type": "string", "bound_claims": map[string]string{"repository_id": s.job.repositoryID},
		"token_type": "service", "token_ttl": "15m", "token_max_ttl": "1h", "token_policies": []string{"deploy"},
	}
	if status, body := vaultCall(t, s, http.MethodPost, "auth/jwt/role/deploy", client, role); status != http.StatusForbidden {
		t.Errorf("a client token wrote a role: %d %s", status, body)
	}
	if status, body := vaultCall(t, s, http.MethodPost, "auth/jwt/role/deploy", root, role); status != http.StatusNoContent {
		t.Fatalf("role write: %d %s", status, body)
	}
	if status, body := vaultCall(t, s, http.MethodPut, "sys/policies/acl/deploy", root, map[string]string{"policy": "# db only\npath \"secret/data/ci/db\" {\n  capabilities = [\"read\"]\n}\n"}); status != http.StatusNoContent {
		t.Fatalf("policy write: %d %s", status, body)
	}
	if status, body := vaultCall(t, s, http.MethodPost, "auth/jwt/config", root, map[string]string{"oidc_discovery_url": s.IssuerURL, "bound_issuer": s.IssuerURL}); status != http.StatusNoContent {
		t.Fatalf("config write: %d %s", status, body)
	}
	status, body := vaultLogin(t, s, "deploy", job)
	if status != http.StatusOK {
		t.Fatalf("login with the written role: %d %s", status, body)
	}
	login := decode[struct {
		Auth struct {
			ClientToken   string   `json:"client_token"`
			TokenPolicies []string `json:"token_policies"`
			LeaseDuration int      `json:"lease_duration"`
		} `json:"auth"`
	}](t, body)
	if !slices.Equal(login.Auth.TokenPolicies, []string{"default", "deploy"}) || login.Auth.LeaseDuration != 900 {
		t.Errorf("login: %s", body)
	}
	if status, _ := vaultCall(t, s, http.MethodGet, "secret/data/ci/db", login.Auth.ClientToken, nil); status != http.StatusOK {
		t.Errorf("the written policy's path: %d", status)
	}
	if status, _ := vaultCall(t, s, http.MethodGet, "secret/data/ci/api", login.Auth.ClientToken, nil); status != http.StatusForbidden {
		t.Errorf("a path outside the written policy: %d", status)
	}
	// Another repository's token is refused by the bound claim.
	other, _ := s.MintTokenWith(TokenRequest{Audience: Audience, Claims: map[string]any{"repository_id": "1"}})
	if status, body := vaultLogin(t, s, "deploy", other); status != http.StatusBadRequest || !strings.Contains(string(body), `claim \"repository_id\" does not match any associated bound claim values`) {
		t.Errorf("another repository_id: %d %s", status, body)
	}

	for _, c := range []struct {
		path string
		body any
		want string
	}{
		{"auth/jwt/role/x", map[string]any{"bound_audiences": "a"}, "a user claim must be defined on the role"},
		{"auth/jwt/role/x", map[string]any{"user_claim": "sub"}, "must have at least one bound constraint"},
		{"auth/jwt/role/x", map[string]any{"user_claim": "sub", "bound_subject": "s", "token_type": "batch"}, "batch tokens cannot be revoked"},
		{"sys/policies/acl/x", map[string]string{"policy": "path \"a\" { capabilities = [\"fly\"] }"}, `invalid capability \"fly\"`},
		{"sys/policies/acl/x", map[string]string{"policy": "key = 1"}, "failed to parse policy"},
		{"auth/jwt/config", map[string]string{"oidc_discovery_url": "https://token.actions.githubusercontent.com"}, "error checking oidc discovery URL"},
	} {
		if status, body := vaultCall(t, s, http.MethodPut, c.path, root, c.body); status != http.StatusBadRequest || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %v: %d %s, want %q", c.path, c.body, status, body, c.want)
		}
	}
}

// A token narrows itself to a subset of its policies with a child token,
// which revoke-self of the parent revokes too; a policy outside the
// parent's is refused.
func TestVaultChildToken(t *testing.T) {
	s := startStack(t, Options{})
	job, _ := s.MintToken("", Audience)
	parent := vaultClientToken(t, s, job)
	status, body := vaultCall(t, s, http.MethodPost, "auth/token/create", parent, map[string]any{"policies": []string{VaultReadDBPolicy}, "ttl": "10m", "no_default_policy": true})
	if status != http.StatusOK {
		t.Fatalf("create: %d %s", status, body)
	}
	child := decode[struct {
		Auth struct {
			ClientToken   string   `json:"client_token"`
			TokenPolicies []string `json:"token_policies"`
			LeaseDuration int      `json:"lease_duration"`
			Orphan        bool     `json:"orphan"`
		} `json:"auth"`
	}](t, body).Auth
	if !slices.Equal(child.TokenPolicies, []string{VaultReadDBPolicy}) || child.LeaseDuration != 600 || child.Orphan {
		t.Errorf("child: %s", body)
	}
	if status, _ := vaultCall(t, s, http.MethodGet, "secret/data/ci/db", child.ClientToken, nil); status != http.StatusOK {
		t.Errorf("read-db reads ci/db: %d", status)
	}
	if status, _ := vaultCall(t, s, http.MethodGet, "secret/data/ci/api", child.ClientToken, nil); status != http.StatusForbidden {
		t.Errorf("read-db reads ci/api: %d", status)
	}
	status, body = vaultCall(t, s, http.MethodPost, "auth/token/create", parent, map[string]any{"policies": []string{"admin"}})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "child policies must be subset of parent") {
		t.Errorf("a policy outside the parent's: %d %s", status, body)
	}
	if status, _ := vaultCall(t, s, http.MethodPost, "auth/token/revoke-self", parent, nil); status != http.StatusNoContent {
		t.Fatalf("revoke-self: %d", status)
	}
	if status, _ := vaultCall(t, s, http.MethodGet, "secret/data/ci/db", child.ClientToken, nil); status != http.StatusForbidden {
		t.Errorf("the child outlived its revoked parent: %d", status)
	}
	var revoked int
	for _, c := range s.Credentials() {
		if c.Provider == ProviderVault && c.Revoked {
			revoked++
		}
	}
	if revoked != 2 {
		t.Errorf("%d vault tokens revoked in the ledger, want parent and child", revoked)
	}
}
