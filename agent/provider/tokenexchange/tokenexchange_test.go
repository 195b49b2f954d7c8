package tokenexchange_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/providertest"
	"github.com/chaperone-ci/chaperone/agent/provider/tokenexchange"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

func config(st *devstack.Stack) tokenexchange.Config {
	return tokenexchange.Config{TokenURL: st.TokenExchangeURL, RevocationURL: st.TokenRevocationURL, TargetAudience: devstack.TokenExchangeTarget}
}

// resource calls the protected resource with a token.
func resource(t *testing.T, st *devstack.Stack, token string) int {
	t.Helper()
	return devstacktest.BearerStatus(t, st.TokenResourceURL, token)
}

func TestExchangeAndRevoke(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := config(st)
	cfg.Scopes = []string{"read", "write"}
	cfg.RequestedTokenType = "access_token"
	p, err := tokenexchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{})
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	// The default OIDC audience is the server's origin.
	if want, asked := strings.TrimSuffix(st.TokenExchangeURL, "/oauth2/token"), tokens.Asked(); len(asked) == 0 || asked[len(asked)-1] != want {
		t.Errorf("OIDC audiences %q, want %q", asked, want)
	}
	tok, ok := g.Find(provider.KindAccessToken)
	if !ok || tok.Name != "ACCESS_TOKEN" || !g.Revocable || g.Principal != devstack.TokenExchangeTarget {
		t.Fatalf("grant: %s revocable %v principal %q", tok.Name, g.Revocable, g.Principal)
	}
	if life := g.ExpiresAt.Sub(g.IssuedAt); life < 15*time.Minute-time.Second || life > 15*time.Minute+time.Second {
		t.Errorf("lifetime %v, want the server's 900s", life)
	}
	if code := resource(t, st, tok.Secret); code != http.StatusOK {
		t.Fatalf("issued token refused by the resource: %d", code)
	}
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if code := resource(t, st, tok.Secret); code != http.StatusUnauthorized {
		t.Errorf("revoked token accepted by the resource: %d", code)
	}
	creds := st.Credentials()
	if len(creds) != 1 || creds[0].Provider != devstack.ProviderTokenExchange || creds[0].Fingerprint != g.Fingerprint || !creds[0].Revoked {
		t.Errorf("ledger %+v", creds)
	}
}

func TestNotRevocableWithoutEndpoint(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := config(st)
	cfg.RevocationURL = ""
	cfg.Audience = devstack.Audience
	cfg.SubjectTokenType = "id_token"
	cfg.Env = "API_TOKEN"
	p, err := tokenexchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if g.Revocable || g.Private != nil || g.Values[0].Name != "API_TOKEN" {
		t.Errorf("grant revocable %v private %v name %s", g.Revocable, g.Private != nil, g.Values[0].Name)
	}
	if err := p.Revoke(context.Background(), g); !errors.Is(err, provider.ErrNotRevocable) {
		t.Errorf("Revoke = %v, want ErrNotRevocable", err)
	}
}

func TestClientAuthentication(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(st.TokenExchangeClientSecret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TX_SECRET", st.TokenExchangeClientSecret())
	t.Setenv("TX_WRONG", "not-the-secret")
	for _, tc := range []struct {
		name          string
		env, file, by string
		want          string
	}{
		{name: "basic from env", env: "TX_SECRET"},
		{name: "post from file", file: secretFile, by: "post"},
		{name: "wrong secret", env: "TX_WRONG", want: "token exchange: HTTP 401: client authentication failed"},
		{name: "unset secret", env: "TX_UNSET", want: "client-secret-env TX_UNSET is empty or unset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(st)
			cfg.ClientID, cfg.ClientSecretEnv, cfg.ClientSecretFile, cfg.ClientAuth = devstack.TokenExchangeClientID, tc.env, tc.file, tc.by
			p, err := tokenexchange.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sec, err := p.ClientSecret(); tc.want == "" && (err != nil || sec != st.TokenExchangeClientSecret()) {
				t.Errorf("ClientSecret() = %v (matches: %v)", err, sec == st.TokenExchangeClientSecret())
			}
			g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), st.TokenExchangeClientSecret()) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The server lets only the owning client revoke: this proves
			// the client authenticated on revocation too.
			if err := p.Revoke(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if code := resource(t, st, g.Values[0].Secret); code != http.StatusUnauthorized {
				t.Errorf("revoked token accepted: %d", code)
			}
		})
	}
}

func TestRefusalsFailFastWithServerMessage(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []providertest.Refusal[tokenexchange.Config]{
		{"other subject", nil, devstack.TokenRequest{Claims: map[string]any{"sub": "repo:someone/else:ref:refs/heads/main"}}, "HTTP 400: subject_token: subject \"repo:someone/else:ref:refs/heads/main\" is not allowed"},
		{"wrong audience", func(c *tokenexchange.Config) { c.Audience = "https://elsewhere" }, devstack.TokenRequest{}, "HTTP 400: subject_token: audience"},
		{"expired token", nil, devstack.TokenRequest{IssuedAt: time.Now().Add(-time.Hour)}, "HTTP 400: subject_token: token is expired"},
		{"unknown target", func(c *tokenexchange.Config) { c.TargetAudience = "billing" }, devstack.TokenRequest{}, `HTTP 400: unknown audience "billing"`},
		{"unknown scope", func(c *tokenexchange.Config) { c.Scopes = []string{"admin"} }, devstack.TokenRequest{}, `HTTP 400: unknown scope "admin"`},
	}
	providertest.AssertRefusals(t, st, func() tokenexchange.Config { return config(st) }, tokenexchange.New, "token exchange: ", 1, cases)
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("refusals issued %d credentials", n)
	}
}

func TestRetries(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	rt := &devstacktest.Counter{}
	p, err := tokenexchange.New(config(st), provider.WithHTTPClient(rt.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FailNext(devstack.ServiceTokenExchange, 500, 503); err != nil {
		t.Fatal(err)
	}
	g := providertest.AssertIssued(t, p, st, rt, 3)
	// Revocation is retried too, and a revocation that keeps failing
	// reports the server's reason at the deadline.
	if err := st.FailNext(devstack.ServiceTokenExchange, 503); err != nil {
		t.Fatal(err)
	}
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatalf("Revoke after 503: %v", err)
	}
	if code := resource(t, st, g.Values[0].Secret); code != http.StatusUnauthorized {
		t.Errorf("token still live after revoke: %d", code)
	}
	g, err = p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InjectFaults(devstack.ServiceTokenExchange, devstack.Fault{Status: 503, Message: "revocation store offline"},
		devstack.Fault{Status: 503, Message: "revocation store offline"}, devstack.Fault{Status: 503, Message: "revocation store offline"},
		devstack.Fault{Status: 503, Message: "revocation store offline"}, devstack.Fault{Status: 503, Message: "revocation store offline"}); err != nil {
		t.Fatal(err)
	}
	short, _ := tokenexchange.New(config(st), provider.WithRetryDeadline(500*time.Millisecond))
	if err := short.Revoke(context.Background(), g); err == nil || !strings.Contains(err.Error(), "token revocation: HTTP 503: revocation store offline") {
		t.Errorf("persistently failing revoke: %v", err)
	}
	// Faults the revocation did not use up answer the resource first.
	code := http.StatusServiceUnavailable
	for i := 0; i < 6 && code == http.StatusServiceUnavailable; i++ {
		code = resource(t, st, g.Values[0].Secret)
	}
	if code != http.StatusOK {
		t.Errorf("token revoked although every revocation failed: %d", code)
	}
}

func TestDescribe(t *testing.T) {
	p, err := tokenexchange.New(tokenexchange.Config{TokenURL: "https://auth.example.com:8443/oauth/token", Resource: "https://api.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Description{Provider: "token-exchange", Principal: "https://api.example.com/", Audience: "https://auth.example.com:8443", Endpoint: "https://auth.example.com:8443/oauth/token"}
	if d := p.Describe(); d != want {
		t.Errorf("Describe = %+v, want %+v", d, want)
	}
}

func TestNewValidates(t *testing.T) {
	ok := tokenexchange.Config{TokenURL: "https://auth.example.com/token"}
	cases := []struct {
		change func(*tokenexchange.Config)
		field  string
	}{
		{func(c *tokenexchange.Config) { c.TokenURL = "" }, "token-url"},
		{func(c *tokenexchange.Config) { c.TokenURL = "auth.example.com/token" }, "token-url"},
		{func(c *tokenexchange.Config) { c.RevocationURL = "mailto:x" }, "revocation-url"},
		{func(c *tokenexchange.Config) { c.Resource = "/relative" }, "resource"},
		{func(c *tokenexchange.Config) { c.Scopes = []string{"a b"} }, "scopes[0]"},
		{func(c *tokenexchange.Config) { c.SubjectTokenType = "saml2" }, "subject-token-type"},
		{func(c *tokenexchange.Config) { c.RequestedTokenType = "cookie" }, "requested-token-type"},
		{func(c *tokenexchange.Config) { c.ClientSecretEnv = "S" }, "client-id"},
		{func(c *tokenexchange.Config) { c.ClientID, c.ClientSecretEnv, c.ClientSecretFile = "c", "S", "/f" }, "client-secret-env"},
		{func(c *tokenexchange.Config) { c.ClientID, c.ClientSecretEnv = "c", "1-BAD" }, "client-secret-env"},
		{func(c *tokenexchange.Config) { c.ClientID, c.ClientSecretEnv, c.ClientAuth = "c", "S", "jwt" }, "client-auth"},
		{func(c *tokenexchange.Config) { c.ClientAuth = "post" }, "client-auth"},
		{func(c *tokenexchange.Config) { c.Env = "A-B" }, "env"},
		{func(c *tokenexchange.Config) { c.TTL = -time.Second }, "ttl"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"audience": "x"} }, "parameters.audience"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"client_id": "x"} }, "parameters.client_id"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"subject_token": "x"} }, "parameters.subject_token"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"client_secret": "x"} }, "parameters.client_secret"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"api_key": "x"} }, "parameters.api_key"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"Password": "x"} }, "parameters.Password"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"refresh_token": "x"} }, "parameters.refresh_token"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"a b": "x"} }, "parameters.a b"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"": "x"} }, "parameters"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"tenant": "a\nb"} }, "parameters.tenant"},
		{func(c *tokenexchange.Config) { c.Parameters = map[string]string{"tenant": strings.Repeat("x", 2000)} }, "parameters.tenant"},
		{func(c *tokenexchange.Config) {
			c.Parameters = map[string]string{"id": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}
		}, "parameters.id"},
	}
	for _, tc := range cases {
		cfg := ok
		tc.change(&cfg)
		_, err := tokenexchange.New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+" ") && !strings.HasPrefix(err.Error(), tc.field+":") || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%+v) = %v, want a one-line error naming %s", cfg, err, tc.field)
		}
		var ke *provider.KeyError
		if !errors.As(err, &ke) || !strings.HasPrefix(tc.field, ke.Key) {
			t.Errorf("New(%+v): %v names key %+v, want %s", cfg, err, ke, tc.field)
		}
	}
	// A value is anything printable; a name is a form field's.
	ok.Parameters = map[string]string{"connector_id": "ci", "login_hint": "ci bot@example.com", "x.y-z~w": "1"}
	if _, err := tokenexchange.New(ok); err != nil {
		t.Errorf("New(%v) refused: %v", ok.Parameters, err)
	}
}

// TestParameters: a scope's parameters travel in the form body of the
// exchange, and only there: the grant's principal and the description name
// the token endpoint without any query string, and hold no parameter.
func TestParameters(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	st.RequireTokenExchangeParameter("connector_id", "ci")
	cfg := config(st)
	cfg.TargetAudience = ""
	p, err := tokenexchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err == nil || !strings.Contains(err.Error(), "HTTP 400: connector_id: this server requires it") {
		t.Fatalf("exchange without the required parameter: %v", err)
	}

	cfg.Parameters = map[string]string{"connector_id": "ci", "tenant": "acme"}
	cfg.TokenURL += "?realm=ci"
	p, err = tokenexchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	reqs := st.TokenExchangeRequests()
	last := reqs[len(reqs)-1].Parameters
	if len(last) != 2 || last.Get("connector_id") != "ci" || last.Get("tenant") != "acme" {
		t.Errorf("the server saw extension parameters %v", last)
	}
	d := p.Describe()
	for _, s := range []string{g.Principal, d.Principal, d.Endpoint} {
		if s != strings.TrimSuffix(st.TokenExchangeURL, "?realm=ci") || strings.ContainsAny(s, "?#") {
			t.Errorf("principal or endpoint %q, want the token endpoint without its query", s)
		}
	}
	if code := resource(t, st, g.Values[0].Secret); code != http.StatusOK {
		t.Errorf("issued token refused by the resource: %d", code)
	}
}

// The token's scope and resource are the grant's restrictions, and the
// server records the same; a scope the server does not grant is refused
// with its reason.
func TestScopeAndResourceRestrictions(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cfg := config(st)
	cfg.Scopes = []string{"read"}
	p, err := tokenexchange.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if g.Restrictions == nil || strings.Join(g.Restrictions.Scopes, " ") != "read" {
		t.Errorf("restrictions %+v", g.Restrictions)
	}
	if r := st.Credentials()[0].Restrictions; r["scope"] != "read" {
		t.Errorf("the server recorded %v", r)
	}
	cfg.Scopes = []string{"admin"}
	p, _ = tokenexchange.New(cfg)
	if _, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{})); err == nil || !strings.Contains(err.Error(), `unknown scope "admin"`) {
		t.Errorf("a scope the server does not grant: %v", err)
	}
}
