package gcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/gcp"
	"github.com/chaperone-ci/chaperone/agent/provider/providertest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

func config(st *devstack.Stack) gcp.Config {
	return gcp.Config{
		WorkloadIdentityProvider: devstack.GCPWorkloadIdentityProvider, ServiceAccount: devstack.GCPServiceAccount,
		STSURL: st.GCPSTSURL, IAMCredentialsURL: st.GCPIAMURL, ProjectID: devstack.GCPProjectID,
	}
}

// tokenInfo asks the devstack's tokeninfo what a token is.
func tokenInfo(t *testing.T, st *devstack.Stack, token string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(st.GCPSTSURL + "/tokeninfo?access_token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&info)
	return resp.StatusCode, info
}

func TestImpersonation(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := config(st)
	cfg.Lifetime = 10 * time.Minute
	p, err := gcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{})
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	if asked := tokens.Asked(); len(asked) != 1 || asked[0] != "https://iam.googleapis.com/"+devstack.GCPWorkloadIdentityProvider {
		t.Errorf("token audiences %v, want Google's default", asked)
	}
	tok, ok := g.Find(provider.KindAccessToken)
	if !ok || len(g.Values) != 1 || tok.Name != "GOOGLE_OAUTH_ACCESS_TOKEN" || !strings.HasPrefix(tok.Secret, "ya29.c.") {
		t.Fatalf("values: %d, %s", len(g.Values), tok.Name)
	}
	if g.Revocable || g.Principal != devstack.GCPServiceAccount {
		t.Errorf("grant: revocable %v principal %q", g.Revocable, g.Principal)
	}
	if life := g.ExpiresAt.Sub(g.IssuedAt); life > 10*time.Minute || life < 9*time.Minute {
		t.Errorf("lifetime %v, want the configured 10m", life)
	}
	status, info := tokenInfo(t, st, tok.Secret)
	if status != http.StatusOK || info["email"] != devstack.GCPServiceAccount || info["scope"] != gcp.DefaultScope {
		t.Errorf("tokeninfo: %d %v", status, info)
	}
	// The ledger holds the federated token and the service account token;
	// the grant's fingerprint is the latter's.
	creds := st.Credentials()
	if len(creds) != 2 || creds[1].Provider != devstack.ProviderGCP || creds[1].Fingerprint != g.Fingerprint || !creds[1].ExpiresAt.Equal(g.ExpiresAt) {
		t.Errorf("ledger %+v, grant %s", creds, g.Fingerprint)
	}
	if err := p.Revoke(context.Background(), g); !errors.Is(err, provider.ErrNotRevocable) {
		t.Errorf("Revoke = %v", err)
	}
}

func TestFederatedTokenWithoutServiceAccount(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{Platform: devstack.PlatformGitLab})
	p, err := gcp.New(gcp.Config{
		WorkloadIdentityProvider: "//iam.googleapis.com/" + devstack.GCPWorkloadIdentityProvider, Audience: devstack.Audience,
		STSURL: st.GCPSTSURL, Env: "GCP_TOKEN", Scopes: []string{"https://www.googleapis.com/auth/devstorage.read_only"},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Values[0].Secret, "ya29.d.") || g.Values[0].Name != "GCP_TOKEN" || g.Principal != "//iam.googleapis.com/"+devstack.GCPWorkloadIdentityProvider {
		t.Errorf("grant %s %q", g.Values[0].Name, g.Principal)
	}
	if life := time.Until(g.ExpiresAt); life > time.Hour+time.Second || life < 59*time.Minute {
		t.Errorf("federated token expires in %v, want an hour", life)
	}
	if creds := st.Credentials(); len(creds) != 1 || creds[0].Fingerprint != g.Fingerprint {
		t.Errorf("ledger %+v", creds)
	}
}

func TestRefusalsFailFastWithGoogleMessage(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []providertest.Refusal[gcp.Config]{
		{"wrong audience", nil, devstack.TokenRequest{Audience: "https://elsewhere"}, "gcp sts token exchange: HTTP 400: The audience in ID Token"},
		{"attribute condition", nil, devstack.TokenRequest{Claims: map[string]any{"repository": "someone/else"}}, "HTTP 400: The given credential is rejected by the attribute condition."},
		{"expired token", nil, devstack.TokenRequest{IssuedAt: time.Now().Add(-time.Hour)}, "HTTP 400: The ID Token has expired"},
		{"unknown provider", func(c *gcp.Config) {
			c.WorkloadIdentityProvider = "projects/1/locations/global/workloadIdentityPools/pool/providers/other"
		}, devstack.TokenRequest{}, "HTTP 400: The target service indicated by the \"audience\" parameters is invalid."},
		{"unbound service account", func(c *gcp.Config) { c.ServiceAccount = "admin@" + devstack.GCPProjectID + ".iam.gserviceaccount.com" },
			devstack.TokenRequest{}, "gcp generateAccessToken admin@chaperone-devstack.iam.gserviceaccount.com: HTTP 403: PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied"},
		{"lifetime over an hour", func(c *gcp.Config) { c.Lifetime = 2 * time.Hour }, devstack.TokenRequest{}, "HTTP 400: INVALID_ARGUMENT: Lifetime must be at most 3600s"},
	}
	errs := providertest.AssertRefusals(t, st, func() gcp.Config { return config(st) }, gcp.New, "", 2, cases)
	// A refusal by IAM comes after STS's answer: two requests; neither
	// may quote the federated access token.
	for _, err := range errs {
		if strings.Contains(err.Error(), "ya29.") {
			t.Errorf("error leaks an access token: %v", err)
		}
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	if err := st.FailNext(devstack.ServiceGCPSTS, 500, 503); err != nil {
		t.Fatal(err)
	}
	if err := st.FailNext(devstack.ServiceGCPIAM, 503); err != nil {
		t.Fatal(err)
	}
	rt := &devstacktest.Counter{}
	p, err := gcp.New(config(st), provider.WithHTTPClient(rt.Client()))
	if err != nil {
		t.Fatal(err)
	}
	// 3 requests to STS and 2 to IAM.
	providertest.AssertIssued(t, p, st, rt, 5)
	// STS answers, then IAM refuses at once.
	providertest.AssertFailsFast(t, p, st, rt, devstack.ServiceGCPIAM, devstack.Fault{Status: 403, Message: "IAM policy denies impersonation"},
		"HTTP 403: PERMISSION_DENIED: IAM policy denies impersonation", 2)
}

func TestDescribe(t *testing.T) {
	p, err := gcp.New(gcp.Config{WorkloadIdentityProvider: devstack.GCPWorkloadIdentityProvider, ServiceAccount: devstack.GCPServiceAccount, ProjectID: "proj"})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Description{Provider: "gcp", Principal: devstack.GCPServiceAccount,
		Audience: "https://iam.googleapis.com/" + devstack.GCPWorkloadIdentityProvider, Endpoint: gcp.DefaultIAMCredentialsURL, Lifetime: gcp.DefaultLifetime}
	if d := p.Describe(); d != want {
		t.Errorf("Describe = %+v, want %+v", d, want)
	}
	if p.ProjectID() != "proj" || p.ServiceAccount() != devstack.GCPServiceAccount || len(p.Scopes()) != 1 || len(p.PublicValues()) != 2 {
		t.Errorf("accessors: %q %q %v %v", p.ProjectID(), p.ServiceAccount(), p.Scopes(), p.PublicValues())
	}
}

func TestNewValidates(t *testing.T) {
	ok := gcp.Config{WorkloadIdentityProvider: devstack.GCPWorkloadIdentityProvider, ServiceAccount: devstack.GCPServiceAccount}
	cases := []struct {
		change func(*gcp.Config)
		field  string
	}{
		{func(c *gcp.Config) { c.WorkloadIdentityProvider = "" }, "workload-identity-provider"},
		{func(c *gcp.Config) {
			c.WorkloadIdentityProvider = "projects/my-project/locations/global/workloadIdentityPools/pool/providers/prov"
		}, "workload-identity-provider"},
		{func(c *gcp.Config) { c.ServiceAccount = "not an email" }, "service-account"},
		{func(c *gcp.Config) { c.ServiceAccount, c.Lifetime = "", time.Minute }, "lifetime"},
		{func(c *gcp.Config) { c.Lifetime = 13 * time.Hour }, "lifetime"},
		{func(c *gcp.Config) { c.Lifetime = 1500 * time.Millisecond }, "lifetime"},
		{func(c *gcp.Config) { c.Scopes = []string{"a b"} }, "scopes[0]"},
		{func(c *gcp.Config) { c.STSURL = "sts.local" }, "sts-url"},
		{func(c *gcp.Config) { c.IAMCredentialsURL = "ftp://x" }, "iamcredentials-url"},
		{func(c *gcp.Config) { c.Env = "1BAD" }, "env"},
	}
	for _, tc := range cases {
		cfg := ok
		tc.change(&cfg)
		_, err := gcp.New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+" ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%+v) = %v, want a one-line error naming %s", cfg, err, tc.field)
		}
	}
}

// The access token's scopes are the grant's restrictions, and Google's
// stand-in granted exactly them.
func TestScopesRestrictions(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := config(st)
	cfg.Scopes = []string{"https://www.googleapis.com/auth/devstorage.read_only"}
	p, err := gcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if g.Restrictions == nil || strings.Join(g.Restrictions.Scopes, " ") != cfg.Scopes[0] {
		t.Errorf("restrictions %+v", g.Restrictions)
	}
	creds := st.Credentials()
	if got, _ := creds[len(creds)-1].Restrictions["scopes"].([]string); strings.Join(got, " ") != cfg.Scopes[0] {
		t.Errorf("Google's stand-in granted %v", creds[len(creds)-1].Restrictions)
	}
	tok, _ := g.Find(provider.KindAccessToken)
	if _, info := tokenInfo(t, st, tok.Secret); info["scope"] != cfg.Scopes[0] {
		t.Errorf("tokeninfo scope %q", info["scope"])
	}
}
