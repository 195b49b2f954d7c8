// Package gcp issues Google Cloud access tokens through workload identity
// federation: the job's OIDC token is exchanged at Google's STS for a
// federated access token and, when a service account is configured, that
// token impersonates the account through IAM Credentials'
// generateAccessToken with a chosen lifetime (as google-github-actions/auth
// does). Google access tokens cannot be revoked: the grant's ExpiresAt is
// the bound of their exposure.
package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Defaults and limits.
const (
	DefaultSTSURL            = "https://sts.googleapis.com"
	DefaultIAMCredentialsURL = "https://iamcredentials.googleapis.com"
	DefaultScope             = "https://www.googleapis.com/auth/cloud-platform"
	DefaultEnv               = "GOOGLE_OAUTH_ACCESS_TOKEN"
	DefaultLifetime          = 15 * time.Minute
	// MaxLifetime is Google's ceiling with the organization policy
	// constraints/iam.allowServiceAccountCredentialLifetimeExtension;
	// without it Google refuses more than an hour.
	MaxLifetime = 12 * time.Hour

	iamPrefix          = "//iam.googleapis.com/"
	tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType    = "urn:ietf:params:oauth:token-type:access_token"
	jwtTokenType       = "urn:ietf:params:oauth:token-type:jwt"
)

var (
	providerPattern = regexp.MustCompile(`^projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$`)
	accountPattern  = regexp.MustCompile(`^[^@\s/]+@[^@\s/]+$`)
)

// Config is a gcp scope's settings in .chaperone.yml.
type Config struct {
	// WorkloadIdentityProvider is the pool provider's resource name,
	// projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
	// (a leading //iam.googleapis.com/ is accepted). The STS audience is
	// "//iam.googleapis.com/" + this name.
	WorkloadIdentityProvider string `mapstructure:"workload-identity-provider"`
	// Audience is the aud of the OIDC token; default
	// "https://iam.googleapis.com/" + WorkloadIdentityProvider, which is
	// what a provider without allowed_audiences accepts.
	Audience string `mapstructure:"audience"`
	// ServiceAccount, when set, is impersonated with generateAccessToken;
	// otherwise the job gets the federated token itself (direct resource
	// access for principal sets; Google fixes its life at an hour).
	ServiceAccount string `mapstructure:"service-account"`
	// Lifetime of the service account token: default 15m, whole seconds,
	// at most 12h (Google allows 1h without an organization policy). Only
	// with ServiceAccount.
	Lifetime time.Duration `mapstructure:"lifetime"`
	// Scopes of the access token; default cloud-platform.
	Scopes []string `mapstructure:"scopes"`
	// ProjectID is the project the job works in (not needed for the
	// exchange); it is offered as GOOGLE_CLOUD_PROJECT and through the
	// metadata endpoint.
	ProjectID string `mapstructure:"project-id"`
	// STSURL and IAMCredentialsURL override Google's endpoints (private
	// service connect, other universes, the devstack).
	STSURL            string `mapstructure:"sts-url"`
	IAMCredentialsURL string `mapstructure:"iamcredentials-url"`
	// Env is the name the job sees the access token under; default
	// GOOGLE_OAUTH_ACCESS_TOKEN, which Terraform's google provider reads.
	Env string `mapstructure:"env"`
}

// Provider exchanges OIDC tokens for Google access tokens.
type Provider struct {
	cfg  Config
	opts wire.Options
}

// New validates cfg and returns a Provider. It does no I/O. Errors are one
// line naming the offending key.
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	cfg.WorkloadIdentityProvider = strings.TrimPrefix(cfg.WorkloadIdentityProvider, iamPrefix)
	if cfg.WorkloadIdentityProvider == "" {
		return nil, errors.New("workload-identity-provider is required (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)")
	}
	if !providerPattern.MatchString(cfg.WorkloadIdentityProvider) {
		return nil, fmt.Errorf("workload-identity-provider %q is not projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (the project number, not its id)", cfg.WorkloadIdentityProvider)
	}
	if cfg.Audience == "" {
		cfg.Audience = "https://iam.googleapis.com/" + cfg.WorkloadIdentityProvider
	}
	if cfg.ServiceAccount != "" && !accountPattern.MatchString(cfg.ServiceAccount) {
		return nil, fmt.Errorf("service-account %q is not an email address (NAME@PROJECT.iam.gserviceaccount.com)", cfg.ServiceAccount)
	}
	switch {
	case cfg.Lifetime != 0 && cfg.ServiceAccount == "":
		return nil, errors.New("lifetime applies only with service-account (federated tokens live one hour)")
	case cfg.Lifetime == 0:
		cfg.Lifetime = DefaultLifetime
	case cfg.Lifetime < time.Second || cfg.Lifetime > MaxLifetime || cfg.Lifetime%time.Second != 0:
		return nil, fmt.Errorf("lifetime %v must be whole seconds between 1s and %v", cfg.Lifetime, MaxLifetime)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{DefaultScope}
	}
	for i, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return nil, fmt.Errorf("scopes[%d] %q is not a scope", i, s)
		}
	}
	var err error
	if cfg.STSURL, err = baseURL("sts-url", cfg.STSURL, DefaultSTSURL); err != nil {
		return nil, err
	}
	if cfg.IAMCredentialsURL, err = baseURL("iamcredentials-url", cfg.IAMCredentialsURL, DefaultIAMCredentialsURL); err != nil {
		return nil, err
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

func baseURL(key, raw, def string) (string, error) {
	if raw == "" {
		return def, nil
	}
	u, err := wire.ParseHTTPURL(key, raw)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" {
		return "", fmt.Errorf("%s %q must not have a query", key, raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// principal is what the credential acts as: the service account, or the
// federated principals of the pool provider.
func (p *Provider) principal() string {
	if p.cfg.ServiceAccount != "" {
		return p.cfg.ServiceAccount
	}
	return iamPrefix + p.cfg.WorkloadIdentityProvider
}

// Describe implements provider.Provider. Principal is the service account
// email (or the provider's resource name without one).
func (p *Provider) Describe() provider.Description {
	endpoint := p.cfg.STSURL
	if p.cfg.ServiceAccount != "" {
		endpoint = p.cfg.IAMCredentialsURL
	}
	lifetime := time.Hour // a federated token's, fixed by Google
	if p.cfg.ServiceAccount != "" {
		lifetime = p.cfg.Lifetime
	}
	return provider.Description{Provider: "gcp", Principal: p.principal(), Audience: p.cfg.Audience, Endpoint: endpoint, Lifetime: lifetime}
}

// ValueNames lists the name of the value Issue hands the job: env (default
// DefaultEnv).
func (p *Provider) ValueNames() []string { return []string{p.cfg.Env} }

// ServiceAccount is the impersonated account ("" without one).
func (p *Provider) ServiceAccount() string { return p.cfg.ServiceAccount }

// ProjectID is the configured project ("" if none).
func (p *Provider) ProjectID() string { return p.cfg.ProjectID }

// Scopes are the access token's scopes.
func (p *Provider) Scopes() []string { return append([]string(nil), p.cfg.Scopes...) }

// PublicValues are the non-secret variables the job needs besides the
// grant's Values: GOOGLE_CLOUD_PROJECT and CLOUDSDK_CORE_PROJECT when a
// project-id is configured.
func (p *Provider) PublicValues() []provider.Value {
	if p.cfg.ProjectID == "" {
		return nil
	}
	return []provider.Value{{Name: "GOOGLE_CLOUD_PROJECT", Secret: p.cfg.ProjectID}, {Name: "CLOUDSDK_CORE_PROJECT", Secret: p.cfg.ProjectID}}
}

type stsResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

type generateResponse struct {
	AccessToken string    `json:"accessToken"`
	ExpireTime  time.Time `json:"expireTime"`
}

// Issue exchanges a token for the configured audience at STS and, with a
// service account, impersonates it. Server errors are retried until the
// retry deadline; refusals (4xx) return at once with Google's message. The
// grant's one Value is the access token (Kind provider.KindAccessToken);
// Fingerprint is its SHA-256. The federated token of an impersonation is
// not handed out.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	scope := strings.Join(p.cfg.Scopes, " ")
	if p.cfg.ServiceAccount != "" {
		scope = DefaultScope // what generateAccessToken requires of the caller
	}
	body, _ := json.Marshal(map[string]string{
		"audience":           iamPrefix + p.cfg.WorkloadIdentityProvider,
		"grantType":          tokenExchangeGrant,
		"requestedTokenType": accessTokenType,
		"scope":              scope,
		"subjectTokenType":   jwtTokenType,
		"subjectToken":       jwt,
	})
	issuedAt := time.Now().UTC()
	var fed stsResponse
	if _, err := wire.Do(ctx, wire.Request{
		Op: "gcp sts token exchange", Method: http.MethodPost, URL: p.cfg.STSURL + "/v1/token",
		Header: http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}, Body: body,
	}, &fed, p.opts); err != nil {
		return nil, err
	}
	if fed.AccessToken == "" || fed.ExpiresIn <= 0 {
		return nil, errors.New("gcp sts token exchange: response has no access_token or expires_in")
	}
	token := fed.AccessToken
	// An upper bound: the token cannot outlive its answer plus expires_in.
	expires := time.Now().UTC().Add(time.Duration(fed.ExpiresIn) * time.Second)

	if p.cfg.ServiceAccount != "" {
		body, _ := json.Marshal(map[string]any{
			"scope":    p.cfg.Scopes,
			"lifetime": strconv.FormatInt(int64(p.cfg.Lifetime/time.Second), 10) + "s",
		})
		var sa generateResponse
		if _, err := wire.Do(ctx, wire.Request{
			Op: "gcp generateAccessToken " + p.cfg.ServiceAccount, Method: http.MethodPost,
			URL:    p.cfg.IAMCredentialsURL + "/v1/projects/-/serviceAccounts/" + url.PathEscape(p.cfg.ServiceAccount) + ":generateAccessToken",
			Header: http.Header{"Authorization": {"Bearer " + fed.AccessToken}, "Content-Type": {"application/json"}, "Accept": {"application/json"}},
			Body:   body,
		}, &sa, p.opts); err != nil {
			return nil, err
		}
		if sa.AccessToken == "" || sa.ExpireTime.IsZero() {
			return nil, errors.New("gcp generateAccessToken: response has no accessToken or expireTime")
		}
		token, expires = sa.AccessToken, sa.ExpireTime.UTC()
	}
	return &provider.Grant{
		Principal:   p.principal(),
		Fingerprint: wire.SHA256Hex(token),
		IssuedAt:    issuedAt,
		ExpiresAt:   expires,
		Revocable:   false,
		Values:      []provider.Value{{Name: p.cfg.Env, Secret: token, Kind: provider.KindAccessToken}},
		// The token's scopes; its lifetime is IssuedAt to ExpiresAt.
		Restrictions: &provider.Restrictions{Scopes: p.Scopes()},
	}, nil
}

// Revoke implements provider.Provider: Google's federated and service
// account access tokens cannot be revoked, so it returns
// provider.ErrNotRevocable.
func (p *Provider) Revoke(context.Context, *provider.Grant) error { return provider.ErrNotRevocable }
