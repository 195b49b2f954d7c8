package devstack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func azureForm(assertion string) url.Values {
	return url.Values{
		"client_id": {AzureClientID}, "scope": {azureManagement + "/.default"}, "grant_type": {"client_credentials"},
		"client_assertion_type": {azureAssertionType}, "client_assertion": {assertion},
	}
}

func azureToken(t *testing.T, s *Stack, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	return oauthPost(t, s.AzureAuthorityURL+"/"+tenant+"/oauth2/v2.0/token", formHeader, form)
}

func TestAzureClientAssertion(t *testing.T) {
	s := startStack(t, Options{Platform: PlatformGitLab})
	assertion, _ := s.MintToken("", azureDefaultAudience)
	status, resp := azureToken(t, s, AzureTenantID, azureForm(assertion))
	if status != http.StatusOK || resp["token_type"] != "Bearer" || resp["expires_in"] != float64(3599) {
		t.Fatalf("token: %d %v", status, resp)
	}
	token := resp["access_token"].(string)
	claims := claimsOf(t, token)
	if claims["aud"] != azureManagement || claims["tid"] != AzureTenantID || claims["appid"] != AzureClientID {
		t.Errorf("access token claims %v", claims)
	}
	creds := s.Credentials()
	if len(creds) != 1 || creds[0].Provider != ProviderAzure || creds[0].ID != claims["uti"] || creds[0].Fingerprint != fingerprint(token) {
		t.Errorf("ledger %+v", creds)
	}
	status, body := call(t, http.MethodGet, s.AzureAuthorityURL+"/subscriptions?api-version=2022-12-01", http.Header{"Authorization": {"Bearer " + token}}, "")
	if status != http.StatusOK || !strings.Contains(string(body), AzureSubscriptionID) {
		t.Errorf("subscriptions: %d %s", status, body)
	}
	if status, _ := call(t, http.MethodGet, s.AzureAuthorityURL+"/subscriptions", http.Header{"Authorization": {"Bearer x"}}, ""); status != http.StatusUnauthorized {
		t.Errorf("subscriptions with a bad token: %d", status)
	}
	// A token for another resource is refused by ARM.
	graph := azureForm(assertion)
	graph.Set("scope", "https://graph.microsoft.com/.default")
	if _, resp := azureToken(t, s, AzureTenantID, graph); resp["access_token"] != nil {
		status, body := call(t, http.MethodGet, s.AzureAuthorityURL+"/subscriptions", http.Header{"Authorization": {"Bearer " + resp["access_token"].(string)}}, "")
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "InvalidAuthenticationTokenAudience") {
			t.Errorf("graph token at ARM: %d %s", status, body)
		}
	} else {
		t.Errorf("graph scope refused: %v", resp)
	}
}

func TestAzureRefusals(t *testing.T) {
	s := startStack(t, Options{})
	good, _ := s.MintToken("", azureDefaultAudience)
	mint := func(req TokenRequest) string {
		tok, err := s.MintTokenWith(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	cases := []struct {
		name, tenant string
		form         url.Values
		status       int
		code         string
		aadsts       string
	}{
		{"unknown tenant", "00000000-0000-0000-0000-000000000000", azureForm(good), 400, "invalid_request", "AADSTS90002:"},
		{"unknown client", AzureTenantID, with(azureForm(good), "client_id", "11111111-1111-1111-1111-111111111111"), 400, "unauthorized_client", "AADSTS700016:"},
		{"scope without .default", AzureTenantID, with(azureForm(good), "scope", azureManagement), 400, "invalid_scope", "AADSTS1002012:"},
		{"unknown resource", AzureTenantID, with(azureForm(good), "scope", "https://other.example/.default"), 400, "invalid_resource", "AADSTS500011:"},
		{"wrong grant", AzureTenantID, with(azureForm(good), "grant_type", "password"), 400, "unsupported_grant_type", "AADSTS70003:"},
		{"other subject", AzureTenantID, azureForm(mint(TokenRequest{Audience: azureDefaultAudience, Claims: map[string]any{"sub": "repo:" + Repository + ":ref:refs/heads/dev"}})), 401, "invalid_client", "AADSTS700213:"},
		{"other audience", AzureTenantID, azureForm(mint(TokenRequest{Audience: "api://other"})), 401, "invalid_client", "AADSTS700212:"},
		{"foreign issuer", AzureTenantID, azureForm(mint(TokenRequest{Audience: azureDefaultAudience, Claims: map[string]any{"iss": "https://issuer.example"}})), 401, "invalid_client", "AADSTS700211:"},
		{"expired", AzureTenantID, azureForm(mint(TokenRequest{Audience: azureDefaultAudience, IssuedAt: time.Now().Add(-time.Hour)})), 401, "invalid_client", "AADSTS700024:"},
		{"no assertion", AzureTenantID, with(azureForm(good), "client_assertion", ""), 400, "invalid_client", "AADSTS7000218:"},
	}
	for _, c := range cases {
		status, resp := azureToken(t, s, c.tenant, c.form)
		desc, _ := resp["error_description"].(string)
		if status != c.status || resp["error"] != c.code || !strings.HasPrefix(desc, c.aadsts) || resp["trace_id"] == "" {
			t.Errorf("%s: %d %v, want %d %s %s", c.name, status, resp, c.status, c.code, c.aadsts)
		}
	}
	if n := len(s.Credentials()); n != 0 {
		t.Errorf("refusals issued %d tokens", n)
	}
}
