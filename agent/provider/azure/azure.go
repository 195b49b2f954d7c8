// Package azure issues Microsoft Entra ID access tokens with the
// client-credentials grant, presenting the job's OIDC token as a federated
// client assertion (workload identity federation, as Azure/login does).
// Entra access tokens cannot be revoked: the grant's ExpiresAt is the
// bound of their exposure.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Defaults.
const (
	DefaultAuthority = "https://login.microsoftonline.com"
	DefaultScope     = "https://management.azure.com/.default"
	// DefaultAudience is the audience Entra's federated identity
	// credentials expect of the assertion.
	DefaultAudience = "api://AzureADTokenExchange"
	DefaultEnv      = "AZURE_ACCESS_TOKEN"

	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

var (
	guidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$`)
)

// Config is an azure scope's settings in .chaperone.yml.
type Config struct {
	// TenantID is the directory (a GUID, or a verified domain).
	TenantID string `mapstructure:"tenant-id"`
	// ClientID is the application (client) id or the user-assigned
	// managed identity's client id holding the federated credential.
	ClientID string `mapstructure:"client-id"`
	// Scope is "<resource>/.default"; default Azure Resource Manager.
	Scope string `mapstructure:"scope"`
	// SubscriptionID is offered to the job as AZURE_SUBSCRIPTION_ID.
	SubscriptionID string `mapstructure:"subscription-id"`
	// Authority overrides https://login.microsoftonline.com (sovereign
	// clouds, the devstack).
	Authority string `mapstructure:"authority"`
	// Audience is the aud of the OIDC token; default
	// api://AzureADTokenExchange.
	Audience string `mapstructure:"audience"`
	// Env is the name the job sees the access token under; default
	// AZURE_ACCESS_TOKEN.
	Env string `mapstructure:"env"`
}

// Provider exchanges OIDC tokens for Entra access tokens.
type Provider struct {
	cfg  Config
	opts wire.Options
}

// New validates cfg and returns a Provider. It does no I/O. Errors are one
// line naming the offending key.
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	switch {
	case cfg.TenantID == "":
		return nil, errors.New("tenant-id is required (the directory id)")
	case !tenantPattern.MatchString(cfg.TenantID):
		return nil, fmt.Errorf("tenant-id %q is not a directory id or domain", cfg.TenantID)
	case cfg.ClientID == "":
		return nil, errors.New("client-id is required (the application or managed identity client id)")
	case !guidPattern.MatchString(cfg.ClientID):
		return nil, fmt.Errorf("client-id %q is not a GUID", cfg.ClientID)
	case cfg.SubscriptionID != "" && !guidPattern.MatchString(cfg.SubscriptionID):
		return nil, fmt.Errorf("subscription-id %q is not a GUID", cfg.SubscriptionID)
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if !strings.HasSuffix(cfg.Scope, "/.default") || strings.ContainsAny(cfg.Scope, " \t\r\n") {
		return nil, fmt.Errorf("scope %q must be one resource followed by /.default (client credentials take no other scopes)", cfg.Scope)
	}
	if cfg.Authority == "" {
		cfg.Authority = DefaultAuthority
	}
	u, err := url.Parse(cfg.Authority)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("authority %q is not an http(s) URL", cfg.Authority)
	}
	cfg.Authority = strings.TrimRight(cfg.Authority, "/")
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Env == "" {
		cfg.Env = DefaultEnv
	}
	if err := provider.CheckEnvName("env", cfg.Env); err != nil {
		return nil, err
	}
	set := provider.Apply(opts...)
	return &Provider{cfg: cfg, opts: wire.Options{Client: set.Client, Deadline: set.RetryDeadline}}, nil
}

func (p *Provider) tokenURL() string {
	return p.cfg.Authority + "/" + url.PathEscape(p.cfg.TenantID) + "/oauth2/v2.0/token"
}

func (p *Provider) principal() string { return p.cfg.TenantID + "/" + p.cfg.ClientID }

// Describe implements provider.Provider. Principal is "TENANT/CLIENT".
func (p *Provider) Describe() provider.Description {
	return provider.Description{Provider: "azure", Principal: p.principal(), Audience: p.cfg.Audience, Endpoint: p.tokenURL()}
}

// ValueNames lists the name of the value Issue hands the job: env (default
// DefaultEnv).
func (p *Provider) ValueNames() []string { return []string{p.cfg.Env} }

// PublicValues are the non-secret variables the job needs besides the
// grant's Values: AZURE_CLIENT_ID, AZURE_TENANT_ID and, when configured,
// AZURE_SUBSCRIPTION_ID.
func (p *Provider) PublicValues() []provider.Value {
	v := []provider.Value{{Name: "AZURE_CLIENT_ID", Secret: p.cfg.ClientID}, {Name: "AZURE_TENANT_ID", Secret: p.cfg.TenantID}}
	if p.cfg.SubscriptionID != "" {
		v = append(v, provider.Value{Name: "AZURE_SUBSCRIPTION_ID", Secret: p.cfg.SubscriptionID})
	}
	return v
}

// Issue presents a token for the configured audience as the client
// assertion. Server errors are retried until the retry deadline; refusals
// (4xx) return at once with Entra's AADSTS message. The grant's one Value
// is the access token (Kind provider.KindAccessToken); Fingerprint is its
// SHA-256.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"client_id":             {p.cfg.ClientID},
		"scope":                 {p.cfg.Scope},
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {assertionType},
		"client_assertion":      {jwt},
	}
	issuedAt := time.Now().UTC()
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if _, err := wire.Do(ctx, wire.Request{
		Op: "azure token", Method: http.MethodPost, URL: p.tokenURL(),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		Body:   []byte(form.Encode()),
	}, &resp, p.opts); err != nil {
		return nil, err
	}
	if resp.AccessToken == "" || resp.ExpiresIn <= 0 {
		return nil, errors.New("azure token: response has no access_token or expires_in")
	}
	return &provider.Grant{
		Principal:   p.principal(),
		Fingerprint: wire.SHA256Hex(resp.AccessToken),
		IssuedAt:    issuedAt,
		// An upper bound: the token cannot outlive its answer plus expires_in.
		ExpiresAt: time.Now().UTC().Add(time.Duration(resp.ExpiresIn) * time.Second),
		Revocable: false,
		Values:    []provider.Value{{Name: p.cfg.Env, Secret: resp.AccessToken, Kind: provider.KindAccessToken}},
	}, nil
}

// Revoke implements provider.Provider: Entra access tokens cannot be
// revoked, so it returns provider.ErrNotRevocable.
func (p *Provider) Revoke(context.Context, *provider.Grant) error { return provider.ErrNotRevocable }
