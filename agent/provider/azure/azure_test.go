package azure_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/azure"
	"github.com/chaperone-ci/chaperone/agent/provider/providertest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

func config(st *devstack.Stack) azure.Config {
	return azure.Config{TenantID: devstack.AzureTenantID, ClientID: devstack.AzureClientID, Authority: st.AzureAuthorityURL}
}

// subscriptions lists subscriptions at the devstack's ARM with a token.
func subscriptions(t *testing.T, st *devstack.Stack, token string) int {
	t.Helper()
	return devstacktest.BearerStatus(t, st.AzureAuthorityURL+"/subscriptions?api-version=2022-12-01", token)
}

func TestIssue(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{CredentialTTL: time.Minute})
	p, err := azure.New(config(st))
	if err != nil {
		t.Fatal(err)
	}
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{})
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	if asked := tokens.Asked(); len(asked) == 0 || asked[len(asked)-1] != "api://AzureADTokenExchange" {
		t.Errorf("assertion audiences %q", asked)
	}
	tok, ok := g.Find(provider.KindAccessToken)
	if !ok || tok.Name != "AZURE_ACCESS_TOKEN" || g.Revocable || g.Principal != devstack.AzureTenantID+"/"+devstack.AzureClientID {
		t.Fatalf("grant %s revocable %v principal %q", tok.Name, g.Revocable, g.Principal)
	}
	if life := g.ExpiresAt.Sub(g.IssuedAt); life < 59*time.Second || life > 61*time.Second {
		t.Errorf("lifetime %v, want the stand-in's 1m cap", life)
	}
	if code := subscriptions(t, st, tok.Secret); code != http.StatusOK {
		t.Errorf("ARM refused the issued token: %d", code)
	}
	creds := st.Credentials()
	if len(creds) != 1 || creds[0].Provider != devstack.ProviderAzure || creds[0].Fingerprint != g.Fingerprint {
		t.Errorf("ledger %+v", creds)
	}
	if err := p.Revoke(context.Background(), g); !errors.Is(err, provider.ErrNotRevocable) {
		t.Errorf("Revoke = %v", err)
	}
}

func TestGitLabAndCustomAudience(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{Platform: devstack.PlatformGitLab})
	cfg := config(st)
	cfg.Audience = devstack.Audience
	cfg.Scope = "https://vault.azure.net/.default"
	cfg.Env = "KV_TOKEN"
	p, err := azure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if g.Values[0].Name != "KV_TOKEN" {
		t.Errorf("value name %s", g.Values[0].Name)
	}
	// A Key Vault token is not an ARM token.
	if code := subscriptions(t, st, g.Values[0].Secret); code != http.StatusUnauthorized {
		t.Errorf("ARM accepted a vault.azure.net token: %d", code)
	}
}

func TestRefusalsFailFastWithAADSTSMessage(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []providertest.Refusal[azure.Config]{
		{"subject mismatch", nil, devstack.TokenRequest{Claims: map[string]any{"sub": "repo:" + devstack.Repository + ":environment:prod"}},
			"HTTP 401: AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:" + devstack.Repository + ":environment:prod'"},
		{"audience mismatch", func(c *azure.Config) { c.Audience = "api://other" }, devstack.TokenRequest{},
			"HTTP 401: AADSTS700212: No matching federated identity record found for presented assertion audience 'api://other'"},
		{"expired assertion", nil, devstack.TokenRequest{IssuedAt: time.Now().Add(-time.Hour)}, "HTTP 401: AADSTS700024: Client assertion is not within its valid time range"},
		{"foreign issuer", nil, devstack.TokenRequest{Claims: map[string]any{"iss": "https://token.actions.githubusercontent.com"}}, "HTTP 401: AADSTS700211:"},
		{"unknown application", func(c *azure.Config) { c.ClientID = "11111111-2222-3333-4444-555555555555" }, devstack.TokenRequest{}, "HTTP 400: AADSTS700016: Application with identifier"},
		{"unknown tenant", func(c *azure.Config) { c.TenantID = "contoso.onmicrosoft.com" }, devstack.TokenRequest{}, "HTTP 400: AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found"},
	}
	providertest.AssertRefusals(t, st, func() azure.Config { return config(st) }, azure.New, "azure token: ", 1, cases)
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("refusals issued %d credentials", n)
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	providertest.AssertRetriesThenFailsFast(t, st, devstack.ServiceAzure, func(c *http.Client) provider.Provider {
		p, err := azure.New(config(st), provider.WithHTTPClient(c))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}, "Conditional Access policy blocks the workload identity.", "HTTP 403: AADSTS90000: Conditional Access policy blocks the workload identity.")
}

func TestDescribe(t *testing.T) {
	p, err := azure.New(azure.Config{TenantID: devstack.AzureTenantID, ClientID: devstack.AzureClientID, SubscriptionID: devstack.AzureSubscriptionID})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Description{Provider: "azure", Principal: devstack.AzureTenantID + "/" + devstack.AzureClientID,
		Audience: "api://AzureADTokenExchange", Endpoint: "https://login.microsoftonline.com/" + devstack.AzureTenantID + "/oauth2/v2.0/token"}
	if d := p.Describe(); d != want {
		t.Errorf("Describe = %+v, want %+v", d, want)
	}
	if pv := p.PublicValues(); len(pv) != 3 || pv[2].Name != "AZURE_SUBSCRIPTION_ID" {
		t.Errorf("PublicValues = %+v", pv)
	}
}

func TestNewValidates(t *testing.T) {
	ok := azure.Config{TenantID: devstack.AzureTenantID, ClientID: devstack.AzureClientID}
	cases := []struct {
		change func(*azure.Config)
		field  string
	}{
		{func(c *azure.Config) { c.TenantID = "" }, "tenant-id"},
		{func(c *azure.Config) { c.TenantID = "a/b" }, "tenant-id"},
		{func(c *azure.Config) { c.ClientID = "" }, "client-id"},
		{func(c *azure.Config) { c.ClientID = "my-app" }, "client-id"},
		{func(c *azure.Config) { c.SubscriptionID = "prod" }, "subscription-id"},
		{func(c *azure.Config) { c.Scope = "https://management.azure.com/user_impersonation" }, "scope"},
		{func(c *azure.Config) { c.Authority = "login.microsoftonline.com" }, "authority"},
		{func(c *azure.Config) { c.Env = "A B" }, "env"},
	}
	for _, tc := range cases {
		cfg := ok
		tc.change(&cfg)
		_, err := azure.New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+" ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%+v) = %v, want a one-line error naming %s", cfg, err, tc.field)
		}
	}
}
