package github_test

import (
	"context"
	"strings"
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
	p, err := github.New(github.Config{Address: st.GitHubAPIURL, Audience: devstack.Audience, Scope: devstack.Repository, Identity: devstack.GitHubIdentity, TTL: 10 * time.Minute})
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
}

func TestExchangeRefusals(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	for _, cfg := range []github.Config{
		{Scope: devstack.Repository, Identity: "nobody", Audience: devstack.Audience},
		{Scope: "other/repo", Identity: devstack.GitHubIdentity, Audience: devstack.Audience},
		{Scope: devstack.Repository, Identity: devstack.GitHubIdentity, Audience: "wrong"},
	} {
		cfg.Address = st.GitHubAPIURL
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
