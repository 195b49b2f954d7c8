package devstack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// vaultLogin posts a JWT login and returns the status and body.
func vaultLogin(t *testing.T, s *Stack, role, token string) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"role": role, "jwt": token})
	return call(t, http.MethodPost, s.VaultAddr+"/v1/auth/jwt/login", nil, string(body))
}

// vaultClientToken logs in and returns the client token.
func vaultClientToken(t *testing.T, s *Stack, token string) string {
	t.Helper()
	status, body := vaultLogin(t, s, VaultRole, token)
	if status != http.StatusOK {
		t.Fatalf("vault login: %d %s", status, body)
	}
	resp := decode[struct {
		Auth struct {
			ClientToken   string            `json:"client_token"`
			Accessor      string            `json:"accessor"`
			Policies      []string          `json:"policies"`
			TokenPolicies []string          `json:"token_policies"`
			Metadata      map[string]string `json:"metadata"`
			LeaseDuration int               `json:"lease_duration"`
			Renewable     bool              `json:"renewable"`
		} `json:"auth"`
	}](t, body)
	a := resp.Auth
	if !strings.HasPrefix(a.ClientToken, "hvs.") || a.Accessor == "" || len(a.Policies) == 0 || len(a.TokenPolicies) == 0 ||
		a.Metadata["role"] != VaultRole || a.LeaseDuration <= 0 || !a.Renewable {
		t.Fatalf("login response: %s", body)
	}
	return a.ClientToken
}

// vaultErrors decodes {"errors":[...]}.
func vaultErrors(t *testing.T, body []byte) []string {
	t.Helper()
	resp := decode[map[string][]string](t, body)
	errs, ok := resp["errors"]
	if !ok {
		t.Fatalf("no errors key in %s", body)
	}
	return errs
}

func TestVaultLogin(t *testing.T) {
	s := startStack(t, Options{})
	for _, aud := range []string{Audience, s.VaultAddr} {
		tok, err := s.MintToken("", aud)
		if err != nil {
			t.Fatal(err)
		}
		vaultClientToken(t, s, tok)
	}

	now := time.Now()
	mint := func(req mintRequest) string {
		t.Helper()
		tok, err := s.issuer.mint(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := newIssuer(s.IssuerURL, PlatformGitHub, time.Minute, s.job)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.mint(mintRequest{audience: Audience})
	if err != nil {
		t.Fatal(err)
	}
	good := mint(mintRequest{audience: Audience})
	parts := strings.Split(good, ".")
	cases := []struct {
		name, role, token, want string
	}{
		{"wrong audience", VaultRole, mint(mintRequest{audience: "https://vault.example.com"}),
			"error validating claims: aud claim does not match any bound audience"},
		{"default GitHub audience", VaultRole, mint(mintRequest{}),
			"error validating claims: aud claim does not match any bound audience"},
		{"expired", VaultRole, mint(mintRequest{audience: Audience, issuedAt: now.Add(-time.Hour)}),
			"error validating claims: go-jose/go-jose/jwt: validation failed, token is expired (exp)"},
		{"not yet valid", VaultRole, mint(mintRequest{audience: Audience, issuedAt: now.Add(time.Hour)}),
			"error validating claims: go-jose/go-jose/jwt: validation failed, token not valid yet (nbf)"},
		{"wrong bound claim", VaultRole, mint(mintRequest{audience: Audience, extra: map[string]any{"repository": "someone/else"}}),
			`error validating claims: claim "repository" does not match any associated bound claim values`},
		{"missing bound claim", VaultRole, mint(mintRequest{platform: PlatformGitLab, audience: Audience}),
			`error validating claims: claim "repository" is missing`},
		{"other issuer's key", VaultRole, forged, "error verifying token: failed to verify id token signature"},
		{"wrong issuer", VaultRole, mint(mintRequest{audience: Audience, extra: map[string]any{"iss": "https://token.actions.githubusercontent.com"}}),
			"error verifying token: failed to verify id token signature"},
		{"tampered payload", VaultRole, parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2],
			"error verifying token"},
		{"not a jwt", VaultRole, "not-a-jwt", "error verifying token: malformed jwt"},
		{"unknown role", "admin", good, `role "admin" could not be found`},
		{"missing role", "", good, "missing role"},
		{"missing token", VaultRole, "", "missing token"},
	}
	for _, c := range cases {
		status, body := vaultLogin(t, s, c.role, c.token)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", c.name, status, body)
			continue
		}
		if errs := vaultErrors(t, body); len(errs) != 1 || !strings.HasPrefix(errs[0], c.want) {
			t.Errorf("%s: errors %q, want prefix %q", c.name, errs, c.want)
		}
	}

	// GitLab tokens are accepted by the role bound to GitLab claims, and
	// Vault forgives a few seconds of clock skew.
	vaultClientTokenForRole(t, s, "ci-gitlab", mint(mintRequest{platform: PlatformGitLab, audience: Audience}))
	vaultClientTokenForRole(t, s, VaultRole, mint(mintRequest{audience: Audience, issuedAt: now.Add(-s.issuer.ttl - 30*time.Second)}))
}

func vaultClientTokenForRole(t *testing.T, s *Stack, role, token string) {
	t.Helper()
	if status, body := vaultLogin(t, s, role, token); status != http.StatusOK {
		t.Errorf("login to %s: %d %s", role, status, body)
	}
}

func TestVaultKVAndRevocation(t *testing.T) {
	s := startStack(t, Options{})
	jwtToken, err := s.MintToken("", Audience)
	if err != nil {
		t.Fatal(err)
	}
	client := vaultClientToken(t, s, jwtToken)
	auth := http.Header{"X-Vault-Token": {client}}

	status, body := call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/db", auth, "")
	if status != http.StatusOK {
		t.Fatalf("read ci/db: %d %s", status, body)
	}
	kv := decode[struct {
		Data struct {
			Data     map[string]string `json:"data"`
			Metadata struct {
				Version int `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}](t, body)
	password := kv.Data.Data["password"]
	if len(password) < 20 || kv.Data.Data["username"] == "" || kv.Data.Metadata.Version != 1 {
		t.Fatalf("ci/db: %s", body)
	}
	if !strings.ContainsAny(password, punctChars) || !strings.ContainsAny(password, digitChars) {
		t.Errorf("password %q lacks punctuation or digits", password)
	}
	secrets := s.Secrets()
	for _, v := range kv.Data.Data {
		if !containsValue(secrets, v) {
			t.Errorf("Secrets() lacks the seeded value of a ci/db field")
		}
	}

	status, body = call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/api", http.Header{"Authorization": {"Bearer " + client}}, "")
	if status != http.StatusOK {
		t.Fatalf("read ci/api with a bearer token: %d %s", status, body)
	}
	api := decode[struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}](t, body).Data.Data
	var doc map[string]string
	if err := json.Unmarshal([]byte(api["json"]), &doc); err != nil || len(doc) == 0 || api["token"] == "" {
		t.Fatalf("ci/api: %s (%v)", body, err)
	}
	for _, leaf := range doc {
		if !containsValue(secrets, leaf) {
			t.Errorf("Secrets() lacks a JSON leaf of ci/api")
		}
	}

	status, body = call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/missing", auth, "")
	if status != http.StatusNotFound || string(body) != "{\"errors\":[]}\n" {
		t.Errorf("missing path: %d %s, want 404 {\"errors\":[]}", status, body)
	}
	status, body = call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/admin/root", auth, "")
	if status != http.StatusForbidden || vaultErrors(t, body)[0] != "permission denied" {
		t.Errorf("read outside the policy: %d %s, want 403", status, body)
	}
	for name, h := range map[string]http.Header{"no token": nil, "unknown token": {"X-Vault-Token": {"hvs.unknown"}}} {
		status, body = call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/db", h, "")
		if status != http.StatusForbidden || vaultErrors(t, body)[0] != "permission denied" {
			t.Errorf("%s: %d %s, want 403 permission denied", name, status, body)
		}
	}

	status, body = call(t, http.MethodGet, s.VaultAddr+"/v1/auth/token/lookup-self", auth, "")
	if status != http.StatusOK {
		t.Fatalf("lookup-self: %d %s", status, body)
	}
	look := decode[struct {
		Data struct {
			Accessor string   `json:"accessor"`
			Policies []string `json:"policies"`
			TTL      int      `json:"ttl"`
		} `json:"data"`
	}](t, body)
	if look.Data.Accessor == "" || look.Data.TTL <= 0 || len(look.Data.Policies) == 0 {
		t.Errorf("lookup-self: %s", body)
	}

	status, body = call(t, http.MethodPost, s.VaultAddr+"/v1/auth/token/revoke-self", auth, "")
	if status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("revoke-self: %d %s, want 204", status, body)
	}
	for _, path := range []string{"/v1/secret/data/ci/db", "/v1/auth/token/lookup-self"} {
		status, body = call(t, http.MethodGet, s.VaultAddr+path, auth, "")
		if status != http.StatusForbidden || vaultErrors(t, body)[0] != "permission denied" {
			t.Errorf("%s after revoke: %d %s, want 403", path, status, body)
		}
	}
	status, _ = call(t, http.MethodPost, s.VaultAddr+"/v1/auth/token/revoke-self", auth, "")
	if status != http.StatusForbidden {
		t.Errorf("second revoke-self: %d, want 403", status)
	}

	creds := s.Credentials()
	if len(creds) != 1 {
		t.Fatalf("ledger has %d credentials, want 1", len(creds))
	}
	c := creds[0]
	if c.Provider != ProviderVault || c.ID != look.Data.Accessor || c.Fingerprint != fingerprint(client) ||
		!c.Revoked || c.RevokedAt == nil || c.RevokedAt.Before(c.IssuedAt) || !c.ExpiresAt.After(c.IssuedAt) {
		t.Errorf("ledger entry: %+v", c)
	}
	assertLedgerJSON(t, s, creds, append(secrets, client, jwtToken))
}

// assertLedgerJSON checks GET /devstack/credentials against Credentials()
// and that none of the secret values appear in it.
func assertLedgerJSON(t *testing.T, s *Stack, want []Credential, secrets []string) {
	t.Helper()
	status, body := call(t, http.MethodGet, s.URL+"/devstack/credentials", nil, "")
	if status != http.StatusOK {
		t.Fatalf("credentials: %d %s", status, body)
	}
	got := decode[struct {
		Credentials []Credential `json:"credentials"`
	}](t, body).Credentials
	if len(got) != len(want) {
		t.Fatalf("credentials JSON has %d entries, Credentials() %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Provider != w.Provider || g.ID != w.ID || g.Fingerprint != w.Fingerprint || g.Revoked != w.Revoked ||
			!g.IssuedAt.Equal(w.IssuedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) || (g.RevokedAt == nil) != (w.RevokedAt == nil) {
			t.Errorf("credential %d: JSON %+v, Credentials() %+v", i, g, w)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(string(body), secret) {
			t.Errorf("credentials JSON contains a secret value")
		}
	}
	for _, key := range []string{`"provider"`, `"id"`, `"fingerprint"`, `"issuedAt"`, `"expiresAt"`, `"revoked"`, `"revokedAt"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("credentials JSON lacks %s", key)
		}
	}
}

func containsValue(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestVaultAndGitHubTokensExpire(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	s := startStack(t, Options{VaultTokenTTL: ttl, GitHubTokenTTL: ttl})
	jwtToken, err := s.MintToken("", Audience)
	if err != nil {
		t.Fatal(err)
	}
	client := vaultClientToken(t, s, jwtToken)
	ghs := exchange(t, s, jwtToken)
	vaultAuth := http.Header{"X-Vault-Token": {client}}
	ghAuth := http.Header{"Authorization": {"Bearer " + ghs}}
	if status, body := call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/db", vaultAuth, ""); status != http.StatusOK {
		t.Fatalf("fresh vault token: %d %s", status, body)
	}
	if status, body := call(t, http.MethodGet, s.GitHubAPIURL+"/installation/repositories", ghAuth, ""); status != http.StatusOK {
		t.Fatalf("fresh installation token: %d %s", status, body)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if status, _ := call(t, http.MethodGet, s.VaultAddr+"/v1/secret/data/ci/db", vaultAuth, ""); status != http.StatusForbidden {
		t.Errorf("expired vault token: %d, want 403", status)
	}
	if status, _ := call(t, http.MethodGet, s.GitHubAPIURL+"/installation/repositories", ghAuth, ""); status != http.StatusUnauthorized {
		t.Errorf("expired installation token: %d, want 401", status)
	}
	if status, _ := call(t, http.MethodDelete, s.GitHubAPIURL+"/installation/token", ghAuth, ""); status != http.StatusUnauthorized {
		t.Errorf("revoking an expired installation token: %d, want 401", status)
	}
	for _, c := range s.Credentials() {
		if c.Revoked {
			t.Errorf("%s credential expired but is recorded as revoked", c.Provider)
		}
	}
}
