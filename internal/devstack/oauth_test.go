package devstack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

func exchangeForm(token string) url.Values {
	return url.Values{"grant_type": {gcpTokenExchangeGrant}, "subject_token": {token}, "subject_token_type": {gcpJWTTokenType}}
}

func oauthPost(t *testing.T, rawURL string, header http.Header, form url.Values) (int, map[string]any) {
	t.Helper()
	status, body := call(t, http.MethodPost, rawURL, header, form.Encode())
	if len(body) == 0 {
		return status, nil
	}
	return status, decode[map[string]any](t, body)
}

func resourceStatus(t *testing.T, s *Stack, token string) (int, string) {
	t.Helper()
	status, body := call(t, http.MethodGet, s.TokenResourceURL, http.Header{"Authorization": {"Bearer " + token}}, "")
	return status, string(body)
}

func TestTokenExchangeUseAndRevoke(t *testing.T) {
	s := startStack(t, Options{})
	jwtToken, _ := s.MintToken("", Audience)
	form := exchangeForm(jwtToken)
	form.Set("audience", TokenExchangeTarget)
	form.Set("scope", "read write")
	form.Set("requested_token_type", gcpAccessTokenType)
	status, resp := oauthPost(t, s.TokenExchangeURL, formHeader, form)
	if status != http.StatusOK || resp["issued_token_type"] != gcpAccessTokenType || resp["token_type"] != "Bearer" ||
		resp["expires_in"] != float64(900) || resp["scope"] != "read write" {
		t.Fatalf("exchange: %d %v", status, resp)
	}
	token := resp["access_token"].(string)
	if status, body := resourceStatus(t, s, token); status != http.StatusOK || !strings.Contains(body, "repo:"+Repository) {
		t.Fatalf("resource with a live token: %d %s", status, body)
	}
	// RFC 7009: 200 for the token, and 200 again for a token no longer live.
	for i := 0; i < 2; i++ {
		if status, resp := oauthPost(t, s.TokenRevocationURL, formHeader, url.Values{"token": {token}, "token_type_hint": {"access_token"}}); status != http.StatusOK {
			t.Fatalf("revoke #%d: %d %v", i+1, status, resp)
		}
	}
	if status, body := resourceStatus(t, s, token); status != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Errorf("resource with a revoked token: %d %s", status, body)
	}
	creds := s.Credentials()
	if len(creds) != 1 || creds[0].Provider != ProviderTokenExchange || !creds[0].Revoked || creds[0].Fingerprint != fingerprint(token) {
		t.Errorf("ledger %+v", creds)
	}

	// A confidential client: Basic auth with form-encoded credentials. Its
	// tokens can be revoked by it only.
	basic := http.Header{"Content-Type": formHeader["Content-Type"]}
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.SetBasicAuth(url.QueryEscape(TokenExchangeClientID), url.QueryEscape(s.TokenExchangeClientSecret()))
	basic.Set("Authorization", req.Header.Get("Authorization"))
	status, resp = oauthPost(t, s.TokenExchangeURL, basic, exchangeForm(jwtToken))
	if status != http.StatusOK || resp["scope"] != "read" {
		t.Fatalf("confidential exchange: %d %v", status, resp)
	}
	clientToken := resp["access_token"].(string)
	if status, resp := oauthPost(t, s.TokenRevocationURL, formHeader, url.Values{"token": {clientToken}}); status != http.StatusBadRequest || resp["error"] != "invalid_grant" {
		t.Errorf("public revoke of a client's token: %d %v", status, resp)
	}
	post := url.Values{"token": {clientToken}, "client_id": {TokenExchangeClientID}, "client_secret": {s.TokenExchangeClientSecret()}}
	if status, _ := oauthPost(t, s.TokenRevocationURL, formHeader, post); status != http.StatusOK {
		t.Errorf("client_secret_post revoke: %d", status)
	}
	if status, _ := resourceStatus(t, s, clientToken); status != http.StatusUnauthorized {
		t.Errorf("revoked client token accepted: %d", status)
	}

	status, body := call(t, http.MethodGet, strings.TrimSuffix(s.TokenExchangeURL, oauthTokenPath)+oauthMetadataPath, nil, "")
	meta := decode[map[string]any](t, body)
	if status != http.StatusOK || meta["token_endpoint"] != s.TokenExchangeURL || meta["revocation_endpoint"] != s.TokenRevocationURL {
		t.Errorf("metadata: %d %v", status, meta)
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	s := startStack(t, Options{})
	good, _ := s.MintToken("", Audience)
	mint := func(req TokenRequest) string {
		tok, err := s.MintTokenWith(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	with := func(f url.Values, kv ...string) url.Values {
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"other subject", exchangeForm(mint(TokenRequest{Audience: Audience, Claims: map[string]any{"sub": "repo:someone/else:ref:refs/heads/main"}})), 400, "invalid_request"},
		{"wrong audience", exchangeForm(mint(TokenRequest{Audience: "https://elsewhere"})), 400, "invalid_request"},
		{"expired", exchangeForm(mint(TokenRequest{Audience: Audience, IssuedAt: time.Now().Add(-time.Hour)})), 400, "invalid_request"},
		{"unknown target", with(exchangeForm(good), "audience", "https://other.example"), 400, "invalid_target"},
		{"unknown resource", with(exchangeForm(good), "resource", "https://other.example/r"), 400, "invalid_target"},
		{"unknown scope", with(exchangeForm(good), "scope", "admin"), 400, "invalid_scope"},
		{"wrong grant", with(exchangeForm(good), "grant_type", "client_credentials"), 400, "unsupported_grant_type"},
		{"wrong token type", with(exchangeForm(good), "subject_token_type", "urn:ietf:params:oauth:token-type:saml2"), 400, "invalid_request"},
		{"wrong secret", with(exchangeForm(good), "client_id", TokenExchangeClientID, "client_secret", "nope"), 401, "invalid_client"},
		{"missing secret", with(exchangeForm(good), "client_id", TokenExchangeClientID), 401, "invalid_client"},
		{"unknown client", with(exchangeForm(good), "client_id", "other", "client_secret", "x"), 401, "invalid_client"},
	}
	for _, c := range cases {
		status, resp := oauthPost(t, s.TokenExchangeURL, formHeader, c.form)
		if status != c.status || resp["error"] != c.code || resp["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, resp, c.status, c.code)
		}
	}
	if n := len(s.Credentials()); n != 0 {
		t.Errorf("refusals issued %d tokens", n)
	}
	if status, _ := resourceStatus(t, s, "dx_unknown"); status != http.StatusUnauthorized {
		t.Errorf("unknown token accepted: %d", status)
	}
}

// TestTokenExchangeParameters: the stand-in records the extension
// parameters of each exchange (form fields neither OAuth 2.0 nor RFC 8693
// defines, as Dex's connector_id), and once told to require one it refuses
// exchanges without it, as Dex refuses one without its connector_id.
func TestTokenExchangeParameters(t *testing.T) {
	s := startStack(t, Options{})
	jwtToken, _ := s.MintToken("", Audience)
	form := exchangeForm(jwtToken)
	form.Set("scope", "read")
	form.Set("connector_id", "ci")
	form.Add("connector_id", "second")
	form.Set("tenant", "acme")
	if status, resp := oauthPost(t, s.TokenExchangeURL, formHeader, form); status != http.StatusOK {
		t.Fatalf("exchange with extension parameters: %d %v", status, resp)
	}
	got := s.TokenExchangeRequests()
	if len(got) != 1 || got[0].SubjectTokenType != gcpJWTTokenType || got[0].Status != http.StatusOK {
		t.Fatalf("recorded %+v", got)
	}
	if p := got[0].Parameters; len(p) != 2 || strings.Join(p["connector_id"], ",") != "ci,second" || p.Get("tenant") != "acme" {
		t.Errorf("recorded parameters %v, want connector_id and tenant only", p)
	}

	s.RequireTokenExchangeParameter("connector_id", "ci")
	for _, tc := range []struct {
		value string
		want  int
	}{{"", http.StatusBadRequest}, {"github", http.StatusBadRequest}, {"ci", http.StatusOK}} {
		form := exchangeForm(jwtToken)
		if tc.value != "" {
			form.Set("connector_id", tc.value)
		}
		status, resp := oauthPost(t, s.TokenExchangeURL, formHeader, form)
		if status != tc.want {
			t.Errorf("connector_id %q: %d %v, want %d", tc.value, status, resp, tc.want)
		}
		if status != http.StatusOK && (resp["error"] != "invalid_request" || !strings.Contains(resp["error_description"].(string), "connector_id")) {
			t.Errorf("refusal %v does not name connector_id", resp)
		}
	}
	if got := s.TokenExchangeRequests(); len(got) != 4 || got[1].Status != http.StatusBadRequest || got[3].Parameters.Get("connector_id") != "ci" {
		t.Errorf("recorded %+v", got)
	}
	if n := len(s.Credentials()); n != 2 {
		t.Errorf("%d tokens issued, want 2 (the refused exchanges issue none)", n)
	}
}
