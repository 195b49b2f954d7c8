package github_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/github"
	"github.com/chaperone-ci/chaperone/agent/provider/providertest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

func installationStatus(t *testing.T, st *devstack.Stack, token string) int {
	t.Helper()
	return devstacktest.BearerStatus(t, st.GitHubAPIURL+"/installation/repositories", token)
}

func TestExchangeAndRevoke(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	p, err := github.New(github.Config{Address: st.GitHubSTSURL, API: st.GitHubAPIURL, Audience: devstack.Audience, Scope: devstack.Repository, Identity: devstack.GitHubIdentity, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub}))
	if err != nil {
		t.Fatal(err)
	}
	tok := g.Values[0].Secret
	if g.Values[0].Name != "GITHUB_TOKEN" || !strings.HasPrefix(tok, "ghs_") {
		t.Fatalf("value %s", g.Values[0].Name)
	}
	if d := time.Until(g.ExpiresAt); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expiry in %v, want the configured 10m", d)
	}
	if code := installationStatus(t, st, tok); code != 200 {
		t.Fatalf("issued token refused by the API: %d", code)
	}
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if code := installationStatus(t, st, tok); code != 401 {
		t.Errorf("revoked token still accepted: %d", code)
	}
	assertLedgerRevoked(t, st, g)
}

// assertLedgerRevoked checks, on the devstack's side, that g's token was
// revoked.
func assertLedgerRevoked(t *testing.T, st *devstack.Stack, g *provider.Grant) {
	t.Helper()
	for _, c := range st.Credentials() {
		if c.Fingerprint == g.Fingerprint {
			if !c.Revoked {
				t.Errorf("devstack ledger: %s token %s is not revoked", c.Provider, c.ID)
			}
			return
		}
	}
	t.Errorf("devstack ledger has no credential %s", g.Fingerprint)
}

// rerouter sends requests for the GitHub API hosts a test names to the
// devstack's API stand-in, and records the URLs asked for.
type rerouter struct {
	mu     sync.Mutex
	routes map[string]string // URL prefix → base it stands for
	asked  []string
}

func (r *rerouter) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	r.mu.Lock()
	r.asked = append(r.asked, req.Method+" "+u)
	r.mu.Unlock()
	for prefix, base := range r.routes {
		if rest, ok := strings.CutPrefix(u, prefix); ok {
			to, err := url.Parse(base + rest)
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.URL, req.Host = to, to.Host
			break
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *rerouter) revocations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.asked {
		if strings.HasPrefix(a, http.MethodDelete+" ") {
			out = append(out, strings.TrimPrefix(a, http.MethodDelete+" "))
		}
	}
	return out
}

// TestRevokeAtTheAPI: octo-sts serves only /sts/exchange, so revocation
// goes to the GitHub API: the scope's api: when given, else GITHUB_API_URL
// (set by the runner, GitHub Enterprise Server's API on GHES), else
// https://api.github.com. Each case revokes through the devstack's API
// stand-in, a host other than the exchange's, and its ledger shows it.
func TestRevokeAtTheAPI(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []struct {
		name, api, githubAPIURL, want string
	}{
		{"default", "", "", "https://api.github.com/installation/token"},
		{"GITHUB_API_URL (GHES)", "", "https://ghes.example.com/api/v3", "https://ghes.example.com/api/v3/installation/token"},
		{"GITHUB_API_URL with a slash", "", "https://ghes.example.com/api/v3/", "https://ghes.example.com/api/v3/installation/token"},
		{"api: over GITHUB_API_URL", "https://api.example.net/", "https://ghes.example.com/api/v3", "https://api.example.net/installation/token"},
		{"api: the stand-in itself", st.GitHubAPIURL, "", st.GitHubAPIURL + "/installation/token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GITHUB_API_URL", c.githubAPIURL)
			rr := &rerouter{routes: map[string]string{
				"https://api.github.com":          st.GitHubAPIURL,
				"https://ghes.example.com/api/v3": st.GitHubAPIURL,
				"https://api.example.net":         st.GitHubAPIURL,
			}}
			p, err := github.New(github.Config{Address: st.GitHubSTSURL, API: c.api, Audience: devstack.Audience, Scope: devstack.Repository, Identity: devstack.GitHubIdentity},
				provider.WithHTTPClient(&http.Client{Transport: rr}))
			if err != nil {
				t.Fatal(err)
			}
			g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub}))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Revoke(context.Background(), g); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if got := rr.revocations(); len(got) != 1 || got[0] != c.want {
				t.Errorf("revoked at %v, want %s", got, c.want)
			}
			assertLedgerRevoked(t, st, g)
		})
	}
}

// TestAPIFromEnv: the agent hands the job's environment in; an empty
// GITHUB_API_URL is unset.
func TestAPIFromEnv(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got, err := github.APIFromEnv(getenv); got != github.DefaultAPI || err != nil {
		t.Errorf("unset: %s, %v; want %s", got, err, github.DefaultAPI)
	}
	env["GITHUB_API_URL"] = "https://ghes.example.com/api/v3"
	if got, err := github.APIFromEnv(getenv); got != "https://ghes.example.com/api/v3" || err != nil {
		t.Errorf("GHES: %s, %v", got, err)
	}
	env["GITHUB_API_URL"] = "ghes.example.com"
	if _, err := github.APIFromEnv(getenv); err == nil || err.Error() != `api is not set and GITHUB_API_URL "ghes.example.com" is not an http(s) URL` {
		t.Errorf("bad GITHUB_API_URL: %v", err)
	}
}

func TestAPIMustBeAnHTTPURL(t *testing.T) {
	base := github.Config{Address: "https://octo-sts.dev", Scope: "org/repo", Identity: "ci"}
	cfg := base
	cfg.API = "api.github.com"
	if _, err := github.New(cfg); err == nil || !strings.Contains(err.Error(), `api "api.github.com" is not an http(s) URL`) {
		t.Errorf("api without a scheme: %v", err)
	}
	t.Setenv("GITHUB_API_URL", "ftp://ghes.example.com")
	if _, err := github.New(base); err == nil || !strings.Contains(err.Error(), "GITHUB_API_URL") {
		t.Errorf("bad GITHUB_API_URL: %v, want an error naming it", err)
	}
}

func TestExchangeRefusals(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	for _, cfg := range []github.Config{
		{Scope: devstack.Repository, Identity: "nobody", Audience: devstack.Audience},
		{Scope: "other/repo", Identity: devstack.GitHubIdentity, Audience: devstack.Audience},
		{Scope: devstack.Repository, Identity: devstack.GitHubIdentity, Audience: "wrong"},
	} {
		cfg.Address = st.GitHubSTSURL
		counter := &devstacktest.Counter{}
		p, err := github.New(cfg, provider.WithHTTPClient(counter.Client()))
		if err != nil {
			t.Fatal(err)
		}
		providertest.AssertRefused(t, p, devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub}), counter, "github token exchange: HTTP 4", 1)
	}
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("refused exchanges issued %d tokens", n)
	}
}

// permissions narrow the token below the trust policy's; a permission
// beyond it is refused with the exchange's reason, and nothing is issued.
func TestNarrowedPermissions(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := github.Config{Address: st.GitHubSTSURL, API: st.GitHubAPIURL, Audience: devstack.Audience, Scope: devstack.Repository, Identity: devstack.GitHubIdentity,
		Permissions: map[string]string{"contents": "read"}}
	p, err := github.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{Platform: devstack.PlatformGitHub})
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	if g.Restrictions == nil || len(g.Restrictions.Permissions) != 1 || g.Restrictions.Permissions["contents"] != "read" {
		t.Errorf("grant restrictions %+v", g.Restrictions)
	}
	creds := st.Credentials()
	if perms, _ := creds[len(creds)-1].Restrictions["permissions"].(map[string]string); len(perms) != 1 || perms["contents"] != "read" {
		t.Errorf("the exchange granted %v, want contents: read only (the policy also grants metadata: read)", creds[len(creds)-1].Restrictions)
	}

	cfg.Permissions = map[string]string{"contents": "write"}
	p, _ = github.New(cfg)
	before := len(st.Credentials())
	_, err = p.Issue(context.Background(), tokens)
	if err == nil || !strings.Contains(err.Error(), `trust policy: permission "contents: write" exceeds "contents: read", which the trust policy grants`) {
		t.Errorf("contents: write: %v", err)
	}
	if n := len(st.Credentials()) - before; n != 0 {
		t.Errorf("%d tokens issued for a refused request", n)
	}
}

func TestPermissionsConfig(t *testing.T) {
	base := github.Config{Address: "https://octo-sts.dev", API: github.DefaultAPI, Scope: "acme/widgets", Identity: "ci"}
	for _, c := range []struct {
		edit func(*github.Config)
		want string
	}{
		{func(c *github.Config) { c.Permissions = map[string]string{"contents": "all"} }, `permissions.contents: "all" is not read, write or admin`},
		{func(c *github.Config) { c.Permissions = map[string]string{"Contents": "read"} }, `"Contents" is not a GitHub App permission name`},
		{func(c *github.Config) { c.Repositories = []string{"widgets"} }, "repositories narrow an organisation scope"},
		{func(c *github.Config) { c.Scope, c.Repositories = "acme", []string{"acme/widgets"} }, `repositories[0] "acme/widgets" is not a repository name`},
	} {
		cfg := base
		c.edit(&cfg)
		if _, err := github.New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", cfg, err, c.want)
		}
	}
}
