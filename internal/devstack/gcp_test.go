package devstack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// gcpExchangeJSON posts Google's JSON token-exchange body.
func gcpExchangeJSON(t *testing.T, s *Stack, audience, token string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"audience": audience, "grantType": gcpTokenExchangeGrant, "requestedTokenType": gcpAccessTokenType,
		"scope": gcpCloudPlatformScope, "subjectTokenType": gcpJWTTokenType, "subjectToken": token,
	})
	status, resp := call(t, http.MethodPost, s.GCPSTSURL+"/v1/token", http.Header{"Content-Type": {"application/json"}}, string(body))
	return status, decode[map[string]any](t, resp)
}

func gcpFederated(t *testing.T, s *Stack) string {
	t.Helper()
	token, err := s.MintToken("", "https://iam.googleapis.com/"+GCPWorkloadIdentityProvider)
	if err != nil {
		t.Fatal(err)
	}
	status, resp := gcpExchangeJSON(t, s, gcpIAMHost+GCPWorkloadIdentityProvider, token)
	if status != http.StatusOK {
		t.Fatalf("STS exchange: %d %v", status, resp)
	}
	return resp["access_token"].(string)
}

func generateAccessToken(t *testing.T, s *Stack, bearer, email, body string) (int, map[string]any) {
	t.Helper()
	status, resp := call(t, http.MethodPost, s.GCPIAMURL+"/v1/projects/-/serviceAccounts/"+email+":generateAccessToken",
		http.Header{"Authorization": {"Bearer " + bearer}, "Content-Type": {"application/json"}}, body)
	return status, decode[map[string]any](t, resp)
}

func TestGCPTokenExchange(t *testing.T) {
	s := startStack(t, Options{})
	federated := gcpFederated(t, s)
	if !strings.HasPrefix(federated, "ya29.d.") {
		t.Errorf("federated token %.10s…", federated)
	}
	creds := s.Credentials()
	if len(creds) != 1 || creds[0].Provider != ProviderGCP || creds[0].Fingerprint != fingerprint(federated) {
		t.Fatalf("ledger %+v", creds)
	}
	if d := creds[0].ExpiresAt.Sub(creds[0].IssuedAt); d != time.Hour {
		t.Errorf("federated token lives %v, want 1h", d)
	}

	// The form encoding with snake_case names, as google-auth sends it,
	// and a GitLab token with the audience Audience.
	gitlab, err := s.MintToken(PlatformGitLab, Audience)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"audience": {gcpIAMHost + GCPWorkloadIdentityProvider}, "grant_type": {gcpTokenExchangeGrant},
		"requested_token_type": {gcpAccessTokenType}, "subject_token_type": {gcpIDTokenType}, "subject_token": {gitlab}}
	status, body := call(t, http.MethodPost, s.GCPSTSURL+"/v1/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
	if status != http.StatusOK {
		t.Fatalf("form exchange: %d %s", status, body)
	}

	good, _ := s.MintToken("", Audience)
	mint := func(req TokenRequest) string {
		tok, err := s.MintTokenWith(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name, audience, token, code, text string
	}{
		{"malformed audience", GCPWorkloadIdentityProvider, good, "invalid_request", `Invalid value for "audience"`},
		{"unknown provider", gcpIAMHost + "projects/1/locations/global/workloadIdentityPools/p/providers/x", good, "invalid_target", "pool or provider"},
		{"token audience", gcpIAMHost + GCPWorkloadIdentityProvider, mint(TokenRequest{Audience: "https://elsewhere"}), "invalid_grant", "does not match the expected audience"},
		{"attribute condition", gcpIAMHost + GCPWorkloadIdentityProvider, mint(TokenRequest{Audience: Audience, Claims: map[string]any{"repository": "someone/else"}}), "unauthorized_client", "attribute condition"},
		{"expired", gcpIAMHost + GCPWorkloadIdentityProvider, mint(TokenRequest{Audience: Audience, IssuedAt: time.Now().Add(-time.Hour)}), "invalid_grant", "expired"},
		{"foreign issuer", gcpIAMHost + GCPWorkloadIdentityProvider, mint(TokenRequest{Audience: Audience, Claims: map[string]any{"iss": "https://issuer.example"}}), "invalid_grant", "issuer"},
		{"not a jwt", gcpIAMHost + GCPWorkloadIdentityProvider, "abc", "invalid_grant", "parse"},
	}
	for _, c := range cases {
		status, resp := gcpExchangeJSON(t, s, c.audience, c.token)
		if status != http.StatusBadRequest || resp["error"] != c.code || !strings.Contains(resp["error_description"].(string), c.text) {
			t.Errorf("%s: %d %v, want 400 %s %q", c.name, status, resp, c.code, c.text)
		}
	}
	if n := len(s.Credentials()); n != 2 {
		t.Errorf("ledger has %d credentials, want 2 (refusals issue nothing)", n)
	}
}

func TestGCPGenerateAccessToken(t *testing.T) {
	s := startStack(t, Options{CredentialTTL: 30 * time.Second})
	federated := gcpFederated(t, s)
	status, resp := generateAccessToken(t, s, federated, GCPServiceAccount, `{"scope":["`+gcpCloudPlatformScope+`"],"lifetime":"600s"}`)
	if status != http.StatusOK {
		t.Fatalf("generateAccessToken: %d %v", status, resp)
	}
	token, _ := resp["accessToken"].(string)
	expires, err := time.Parse(time.RFC3339, resp["expireTime"].(string))
	if err != nil || !strings.HasPrefix(token, "ya29.c.") {
		t.Fatalf("response %v (%v)", resp, err)
	}
	// CredentialTTL caps the 600 s asked for.
	if d := time.Until(expires); d > 30*time.Second || d < 25*time.Second {
		t.Errorf("token expires in %v, want the 30s cap", d)
	}
	status, body := call(t, http.MethodGet, s.GCPSTSURL+"/tokeninfo?access_token="+url.QueryEscape(token), nil, "")
	if info := decode[map[string]string](t, body); status != http.StatusOK || info["email"] != GCPServiceAccount || info["scope"] != gcpCloudPlatformScope {
		t.Errorf("tokeninfo: %d %v", status, info)
	}
	if status, _ := call(t, http.MethodGet, s.GCPSTSURL+"/tokeninfo?access_token="+url.QueryEscape(federated), nil, ""); status != http.StatusBadRequest {
		t.Errorf("tokeninfo of a federated token: %d, want 400", status)
	}

	cases := []struct {
		name, bearer, email, body string
		status                    int
		text                      string
	}{
		{"unknown bearer", "ya29.nope", GCPServiceAccount, `{"scope":["x"]}`, 401, "invalid authentication credentials"},
		{"sa token as bearer", token, GCPServiceAccount, `{"scope":["x"]}`, 401, "invalid authentication credentials"},
		{"other account", federated, "admin@" + GCPProjectID + ".iam.gserviceaccount.com", `{"scope":["x"]}`, 403, "iam.serviceAccounts.getAccessToken"},
		{"lifetime too long", federated, GCPServiceAccount, `{"scope":["x"],"lifetime":"7200s"}`, 400, "at most 3600s"},
		{"bad lifetime", federated, GCPServiceAccount, `{"scope":["x"],"lifetime":"10m"}`, 400, "Illegal duration"},
		{"no scope", federated, GCPServiceAccount, `{}`, 400, "Scope required"},
	}
	for _, c := range cases {
		status, resp := generateAccessToken(t, s, c.bearer, c.email, c.body)
		e, _ := resp["error"].(map[string]any)
		if status != c.status || e["code"] != float64(c.status) || !strings.Contains(e["message"].(string), c.text) || e["status"] != googleStatus(c.status) {
			t.Errorf("%s: %d %v, want %d %q", c.name, status, resp, c.status, c.text)
		}
	}
}
