package devstack

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// exchangeRaw calls the octo-sts exchange.
func exchangeRaw(t *testing.T, s *Stack, header http.Header, scope, identity string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"scope": {scope}, "identity": {identity}}
	status, body := call(t, http.MethodGet, s.GitHubSTSURL+"/sts/exchange?"+q.Encode(), header, "")
	return status, decode[map[string]any](t, body)
}

// exchange returns an installation token for the devstack repository.
func exchange(t *testing.T, s *Stack, jwtToken string) string {
	t.Helper()
	status, resp := exchangeRaw(t, s, http.Header{"Authorization": {"Bearer " + jwtToken}}, Repository, GitHubIdentity)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, resp)
	}
	token, _ := resp["token"].(string)
	if !regexp.MustCompile(`^ghs_[A-Za-z0-9]{36}$`).MatchString(token) {
		t.Fatalf("exchange returned %q, want ghs_ and 36 alphanumerics", token)
	}
	return token
}

func TestGitHubExchangeUseAndRevoke(t *testing.T) {
	s := startStack(t, Options{})
	jwtToken, err := s.MintToken("", Audience)
	if err != nil {
		t.Fatal(err)
	}
	token := exchange(t, s, jwtToken)

	status, body := call(t, http.MethodGet, s.GitHubAPIURL+"/installation/repositories", http.Header{"Authorization": {"Bearer " + token}}, "")
	if status != http.StatusOK {
		t.Fatalf("repositories: %d %s", status, body)
	}
	repos := decode[struct {
		TotalCount   int `json:"total_count"`
		Repositories []struct {
			FullName string `json:"full_name"`
		} `json:"repositories"`
	}](t, body)
	if repos.TotalCount != 1 || len(repos.Repositories) != 1 || repos.Repositories[0].FullName != Repository {
		t.Errorf("repositories: %s", body)
	}

	// create-github-app-token revokes with the "token" scheme.
	auth := http.Header{"Authorization": {"token " + token}}
	status, body = call(t, http.MethodDelete, s.GitHubAPIURL+"/installation/token", auth, "")
	if status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("DELETE /installation/token: %d %s, want 204", status, body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		path := "/installation/repositories"
		if method == http.MethodDelete {
			path = "/installation/token"
		}
		status, body = call(t, method, s.GitHubAPIURL+path, auth, "")
		if status != http.StatusUnauthorized || decode[map[string]any](t, body)["message"] != "Bad credentials" {
			t.Errorf("%s %s after revoke: %d %s, want 401 Bad credentials", method, path, status, body)
		}
	}

	creds := s.Credentials()
	if len(creds) != 1 || creds[0].Provider != ProviderGitHub || creds[0].Fingerprint != fingerprint(token) ||
		!creds[0].Revoked || creds[0].RevokedAt == nil || creds[0].ExpiresAt.Sub(creds[0].IssuedAt) != time.Hour {
		t.Errorf("ledger: %+v", creds)
	}
	assertLedgerJSON(t, s, creds, []string{token, jwtToken})

	// The exchange's host is octo-sts's default audience; GitLab tokens of
	// the same project are trusted too.
	u, _ := url.Parse(s.GitHubSTSURL)
	for _, platform := range []string{PlatformGitHub, PlatformGitLab} {
		tok, err := s.MintToken(platform, u.Host)
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, s, tok)
	}
}

func TestGitHubExchangeRefusals(t *testing.T) {
	s := startStack(t, Options{})
	mint := func(req mintRequest) http.Header {
		t.Helper()
		tok, err := s.issuer.mint(req)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	good := mint(mintRequest{audience: Audience})
	cases := []struct {
		name            string
		header          http.Header
		scope, identity string
		status          int
		message         string
	}{
		{"no authorization", nil, Repository, GitHubIdentity, 401, "expected exactly one authorization header"},
		{"not a jwt", http.Header{"Authorization": {"Bearer abc"}}, Repository, GitHubIdentity, 400, "invalid bearer token"},
		{"expired", mint(mintRequest{audience: Audience, issuedAt: time.Now().Add(-time.Hour)}), Repository, GitHubIdentity, 401, "unable to verify bearer token"},
		{"foreign issuer", mint(mintRequest{audience: Audience, extra: map[string]any{"iss": "https://issuer.example"}}), Repository, GitHubIdentity, 400, "unable to fetch or create the provider"},
		{"wrong audience", mint(mintRequest{}), Repository, GitHubIdentity, 403, "trust policy: audience_pattern"},
		{"wrong subject", mint(mintRequest{audience: Audience, extra: map[string]any{"sub": "repo:someone/else:ref:refs/heads/main"}}), Repository, GitHubIdentity, 403, "trust policy: subject \"repo:someone/else"},
		{"unknown identity", good, Repository, "deploy", 404, `unable to find trust policy for "deploy"`},
		{"other repository", good, RepositoryOwner + "/other", GitHubIdentity, 404, "unable to find trust policy"},
		{"other owner", good, "someone/else", GitHubIdentity, 404, `no installation found for "someone"`},
		{"missing scope", good, "", GitHubIdentity, 400, "scope and identity are required"},
	}
	for _, c := range cases {
		status, resp := exchangeRaw(t, s, c.header, c.scope, c.identity)
		msg, _ := resp["message"].(string)
		if status != c.status || !strings.HasPrefix(msg, c.message) || resp["token"] != nil {
			t.Errorf("%s: %d %v, want %d %q", c.name, status, resp, c.status, c.message)
		}
	}
	if n := len(s.Credentials()); n != 0 {
		t.Errorf("refused exchanges issued %d credentials", n)
	}
	status, body := call(t, http.MethodDelete, s.GitHubAPIURL+"/installation/token", nil, "")
	if status != http.StatusUnauthorized || !strings.Contains(string(body), "Requires authentication") {
		t.Errorf("DELETE without a token: %d %s", status, body)
	}
	status, _ = call(t, http.MethodDelete, s.GitHubAPIURL+"/installation/token", http.Header{"Authorization": {"Bearer ghs_" + strings.Repeat("x", 36)}}, "")
	if status != http.StatusUnauthorized {
		t.Errorf("DELETE with an unknown token: %d, want 401", status)
	}
}

// TestGitHubExchangeAndAPIListenApart holds the stand-ins to the real
// split: octo-sts serves only /sts/exchange, and installation tokens are
// used and revoked at the GitHub API, another host. A client that revokes
// at the exchange's host fails here as it would against octo-sts.
func TestGitHubExchangeAndAPIListenApart(t *testing.T) {
	s := startStack(t, Options{})
	sts, err := url.Parse(s.GitHubSTSURL)
	if err != nil {
		t.Fatal(err)
	}
	api, err := url.Parse(s.GitHubAPIURL)
	if err != nil {
		t.Fatal(err)
	}
	if sts.Host == api.Host {
		t.Fatalf("exchange and API share %s", sts.Host)
	}
	jwtToken, err := s.MintToken("", Audience)
	if err != nil {
		t.Fatal(err)
	}
	token := exchange(t, s, jwtToken)
	auth := http.Header{"Authorization": {"Bearer " + token}}

	// The exchange knows nothing of the API.
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/installation/token"},
		{http.MethodGet, "/installation/repositories"},
	} {
		if status, body := call(t, c.method, s.GitHubSTSURL+c.path, auth, ""); status != http.StatusNotFound {
			t.Errorf("exchange host: %s %s: %d %s, want 404", c.method, c.path, status, body)
		}
	}
	if creds := s.Credentials(); len(creds) != 1 || creds[0].Revoked {
		t.Fatalf("a request to the exchange host touched the token: %+v", creds)
	}
	// The API does not exchange.
	if status, body := call(t, http.MethodGet, s.GitHubAPIURL+"/sts/exchange?scope="+Repository+"&identity="+GitHubIdentity,
		http.Header{"Authorization": {"Bearer " + jwtToken}}, ""); status != http.StatusNotFound {
		t.Errorf("API host: GET /sts/exchange: %d %s, want 404", status, body)
	}
	// The API revokes.
	if status, body := call(t, http.MethodDelete, s.GitHubAPIURL+"/installation/token", auth, ""); status != http.StatusNoContent {
		t.Fatalf("API host: DELETE /installation/token: %d %s, want 204", status, body)
	}
	if creds := s.Credentials(); len(creds) != 1 || !creds[0].Revoked {
		t.Errorf("ledger after DELETE at the API: %+v", creds)
	}
}

// TestGitHubFaultsCoverExchangeAndAPI: faults injected into ServiceGitHub
// reach both listeners, in GitHub's error format.
func TestGitHubFaultsCoverExchangeAndAPI(t *testing.T) {
	s := startStack(t, Options{})
	if err := s.FailNext(ServiceGitHub, 503, 502); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url    string
		status int
	}{
		{s.GitHubSTSURL + "/sts/exchange", 503},
		{s.GitHubAPIURL + "/installation/repositories", 502},
	} {
		status, body := call(t, http.MethodGet, c.url, nil, "")
		if status != c.status || !strings.Contains(string(body), `"documentation_url":`) || !strings.Contains(string(body), "injected fault") {
			t.Errorf("GET %s: %d %s, want an injected %d", c.url, status, body, c.status)
		}
	}
}
