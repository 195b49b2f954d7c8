// Package tokenexchange issues access tokens from any OAuth 2.0
// authorization server that implements RFC 8693 token exchange: the job's
// OIDC token is the subject token. When the server has an RFC 7009
// revocation endpoint, the token is revoked at the end of the job;
// otherwise its expiry bounds its exposure.
package tokenexchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// RFC 8693 identifiers.
const (
	GrantType       = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT    = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDTok  = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccess = "urn:ietf:params:oauth:token-type:access_token"

	// DefaultEnv is the name the job sees the token under by default.
	DefaultEnv = "ACCESS_TOKEN"
	// DefaultTTL is the lifetime assumed when the server omits expires_in.
	DefaultTTL = time.Hour

	maxSecretBytes = 64 << 10
)

// Config is a token-exchange scope's settings in .chaperone.yml.
type Config struct {
	// TokenURL is the server's token endpoint.
	TokenURL string `mapstructure:"token-url"`
	// RevocationURL is its RFC 7009 revocation endpoint; without it the
	// grant is not revocable.
	RevocationURL string `mapstructure:"revocation-url"`
	// Audience is the aud of the OIDC (subject) token; default the token
	// endpoint's origin (scheme://host[:port]).
	Audience string `mapstructure:"audience"`
	// TargetAudience and Resource are RFC 8693's "audience" (a logical
	// name of the target service) and "resource" (its absolute URI).
	TargetAudience string   `mapstructure:"target-audience"`
	Resource       string   `mapstructure:"resource"`
	Scopes         []string `mapstructure:"scopes"`
	// SubjectTokenType is jwt (default) or id_token, or a full
	// urn:ietf:params:oauth:token-type URI.
	SubjectTokenType string `mapstructure:"subject-token-type"`
	// RequestedTokenType is sent when set (full URI or access_token, jwt).
	RequestedTokenType string `mapstructure:"requested-token-type"`
	// ClientID identifies the client; with ClientSecretEnv or
	// ClientSecretFile the client authenticates (ClientAuth "basic",
	// the default, or "post"), otherwise it is a public client.
	ClientID         string `mapstructure:"client-id"`
	ClientSecretEnv  string `mapstructure:"client-secret-env"`
	ClientSecretFile string `mapstructure:"client-secret-file"`
	ClientAuth       string `mapstructure:"client-auth"`
	// Env is the name the job sees the access token under; default
	// ACCESS_TOKEN.
	Env string `mapstructure:"env"`
	// TTL is the lifetime assumed when the response has no expires_in
	// (default 1h): the exposure bound recorded for the grant.
	TTL time.Duration `mapstructure:"ttl"`
	// Parameters are extra form parameters of the exchange request, for
	// servers that want more than RFC 8693 defines (Dex's connector_id).
	// They are settings, not secrets: they are neither masked nor hidden
	// from logs, so names that look like a secret's are refused (a client
	// secret comes from client-secret-env or client-secret-file). They
	// cannot replace a parameter another key sets, and they are not part
	// of the attested principal.
	Parameters map[string]string `mapstructure:"parameters"`
}

// Limits of Parameters.
const (
	maxParameters     = 32
	maxParameterValue = 1024
)

var (
	parameterName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.~-]{0,63}$`)
	// secretLike matches parameter names that suggest a secret value.
	secretLike = regexp.MustCompile(`(?i)secret|passw|pwd|token|assertion|credential|api.?key|private|signature`)
	// jwtLike matches a value shaped like a JWT (a signed token).
	jwtLike = regexp.MustCompile(`^eyJ[\w-]*\.[\w-]+\.[\w-]*$`)
)

// parameterKeys maps the form parameters chaperone sends itself to the
// key that sets each.
func parameterKeys() map[string]string {
	return map[string]string{
		"grant_type": "", "subject_token": "", "subject_token_type": "subject-token-type",
		"actor_token": "", "actor_token_type": "", "requested_token_type": "requested-token-type",
		"audience": "target-audience", "resource": "resource", "scope": "scopes",
		"client_id": "client-id", "client_secret": "client-secret-env or client-secret-file",
		"client_assertion": "", "client_assertion_type": "",
	}
}

// checkParameters validates Parameters (see Config).
func checkParameters(params map[string]string) error {
	if len(params) > maxParameters {
		return provider.KeyErrorf("parameters", "parameters: %d parameters, at most %d", len(params), maxParameters)
	}
	for name, value := range params {
		key := "parameters." + name
		if by, reserved := parameterKeys()[name]; reserved {
			if by == "" {
				return provider.KeyErrorf(key, "%s: chaperone sends %s itself", key, name)
			}
			return provider.KeyErrorf(key, "%s: set %s with %s", key, name, by)
		}
		if !parameterName.MatchString(name) {
			if name == "" {
				key = "parameters"
			}
			return provider.KeyErrorf(key, "%s %q is not a parameter name (a letter, then letters, digits and _.~-, at most 64)", key, name)
		}
		if secretLike.MatchString(name) {
			return provider.KeyErrorf(key, "%s: parameters are not secret (they are neither masked nor hidden from logs), and %s names a secret: a client secret comes from client-secret-env or client-secret-file", key, name)
		}
		if len(value) > maxParameterValue || strings.ContainsFunc(value, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) {
			return provider.KeyErrorf(key, "%s must be printable text of at most %d bytes", key, maxParameterValue)
		}
		if jwtLike.MatchString(value) {
			return provider.KeyErrorf(key, "%s holds a signed token: parameters are not secret (they are neither masked nor hidden from logs)", key)
		}
	}
	return nil
}

// Provider exchanges OIDC tokens at one authorization server.
type Provider struct {
	cfg  Config
	opts wire.Options
}

// New validates cfg and returns a Provider. It does no I/O (the client
// secret is read when it is needed). Errors are one line naming the key.
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	if cfg.TokenURL == "" {
		return nil, provider.KeyErrorf("token-url", "token-url is required (the server's RFC 8693 token endpoint)")
	}
	u, err := wire.ParseHTTPURL("token-url", cfg.TokenURL)
	if err != nil {
		return nil, keyError("token-url", err)
	}
	if cfg.RevocationURL != "" {
		if _, err := wire.ParseHTTPURL("revocation-url", cfg.RevocationURL); err != nil {
			return nil, keyError("revocation-url", err)
		}
	}
	if cfg.Audience == "" {
		cfg.Audience = u.Scheme + "://" + u.Host
	}
	if cfg.Resource != "" {
		if r, err := url.Parse(cfg.Resource); err != nil || !r.IsAbs() || r.Fragment != "" {
			return nil, provider.KeyErrorf("resource", "resource %q must be an absolute URI without a fragment", cfg.Resource)
		}
	}
	for i, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			key := fmt.Sprintf("scopes[%d]", i)
			return nil, provider.KeyErrorf(key, "%s %q is not a scope token", key, s)
		}
	}
	if cfg.SubjectTokenType, err = tokenType("subject-token-type", cfg.SubjectTokenType, TokenTypeJWT, TokenTypeJWT, TokenTypeIDTok); err != nil {
		return nil, err
	}
	if cfg.RequestedTokenType != "" {
		if cfg.RequestedTokenType, err = tokenType("requested-token-type", cfg.RequestedTokenType, "", TokenTypeAccess, TokenTypeJWT, TokenTypeIDTok,
			"urn:ietf:params:oauth:token-type:refresh_token"); err != nil {
			return nil, err
		}
	}
	hasSecret := cfg.ClientSecretEnv != "" || cfg.ClientSecretFile != ""
	switch {
	case cfg.ClientSecretEnv != "" && cfg.ClientSecretFile != "":
		return nil, provider.KeyErrorf("client-secret-env", "client-secret-env and client-secret-file are exclusive")
	case hasSecret && cfg.ClientID == "":
		return nil, provider.KeyErrorf("client-id", "client-id is required with a client secret")
	case cfg.ClientSecretEnv != "" && provider.CheckEnvName("client-secret-env", cfg.ClientSecretEnv) != nil:
		return nil, keyError("client-secret-env", provider.CheckEnvName("client-secret-env", cfg.ClientSecretEnv))
	}
	switch cfg.ClientAuth {
	case "":
		cfg.ClientAuth = "basic"
	case "basic", "post":
	default:
		return nil, provider.KeyErrorf("client-auth", "client-auth %q is not basic or post", cfg.ClientAuth)
	}
	if cfg.ClientAuth != "basic" && !hasSecret {
		return nil, provider.KeyErrorf("client-auth", "client-auth applies only with client-secret-env or client-secret-file")
	}
	if cfg.Env == "" {
		cfg.Env = DefaultEnv
	}
	if err := provider.CheckEnvName("env", cfg.Env); err != nil {
		return nil, keyError("env", err)
	}
	switch {
	case cfg.TTL < 0:
		return nil, provider.KeyErrorf("ttl", "ttl %v must be positive", cfg.TTL)
	case cfg.TTL == 0:
		cfg.TTL = DefaultTTL
	}
	if err := checkParameters(cfg.Parameters); err != nil {
		return nil, err
	}
	set := provider.Apply(opts...)
	return &Provider{cfg: cfg, opts: wire.Options{Client: set.Client, Deadline: set.RetryDeadline}}, nil
}

// keyError marks err as a refusal of key.
func keyError(key string, err error) error {
	return &provider.KeyError{Key: key, Msg: err.Error()}
}

// tokenType resolves a short name (jwt, id_token, access_token,
// refresh_token) or a URI among allowed.
func tokenType(key, v, def string, allowed ...string) (string, error) {
	if v == "" {
		return def, nil
	}
	if !strings.Contains(v, ":") {
		v = "urn:ietf:params:oauth:token-type:" + v
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", provider.KeyErrorf(key, "%s %q is not one of %s", key, v, strings.Join(allowed, ", "))
}

// principal names what the token is for: the target audience, else the
// resource, else the token endpoint (see endpoint). Parameters are never
// part of it.
func (p *Provider) principal() string {
	switch {
	case p.cfg.TargetAudience != "":
		return p.cfg.TargetAudience
	case p.cfg.Resource != "":
		return p.cfg.Resource
	}
	return p.endpoint()
}

// endpoint is the token endpoint as it is attested: without its query
// string, which may carry settings that are nobody's business (or a key).
func (p *Provider) endpoint() string {
	u, err := url.Parse(p.cfg.TokenURL)
	if err != nil {
		return ""
	}
	u.RawQuery, u.ForceQuery = "", false
	return u.String()
}

// Describe implements provider.Provider.
func (p *Provider) Describe() provider.Description {
	return provider.Description{Provider: "token-exchange", Principal: p.principal(), Audience: p.cfg.Audience, Endpoint: p.endpoint()}
}

// ValueNames lists the name of the value Issue hands the job: env (default
// DefaultEnv).
func (p *Provider) ValueNames() []string { return []string{p.cfg.Env} }

// ClientSecret reads the configured client secret ("" for a public
// client), so the agent can mask it like every credential it reads. It is
// a secret: never print it.
func (p *Provider) ClientSecret() (string, error) { return p.clientSecret() }

// ConsumedEnv names the variable the client secret is read from, if any:
// the job's commands do not need it.
func (p *Provider) ConsumedEnv() []string {
	if p.cfg.ClientSecretEnv == "" {
		return nil
	}
	return []string{p.cfg.ClientSecretEnv}
}

// clientSecret reads the configured secret ("" for public clients). The
// value is a secret the caller must not print.
func (p *Provider) clientSecret() (string, error) {
	switch {
	case p.cfg.ClientSecretEnv != "":
		s := os.Getenv(p.cfg.ClientSecretEnv)
		if s == "" {
			return "", fmt.Errorf("token exchange: client-secret-env %s is empty or unset", p.cfg.ClientSecretEnv)
		}
		return s, nil
	case p.cfg.ClientSecretFile != "":
		f, err := os.Open(p.cfg.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("token exchange: client-secret-file: %w", err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
		if err != nil {
			return "", fmt.Errorf("token exchange: client-secret-file: %w", err)
		}
		if len(data) > maxSecretBytes {
			return "", fmt.Errorf("token exchange: client-secret-file is larger than %d bytes", maxSecretBytes)
		}
		s := strings.TrimRight(string(data), "\r\n")
		if s == "" {
			return "", errors.New("token exchange: client-secret-file is empty")
		}
		return s, nil
	}
	return "", nil
}

// authenticate adds client authentication to a form request.
func (p *Provider) authenticate(form url.Values, header http.Header) error {
	secret, err := p.clientSecret()
	if err != nil {
		return err
	}
	switch {
	case secret == "":
		if p.cfg.ClientID != "" {
			form.Set("client_id", p.cfg.ClientID)
		}
	case p.cfg.ClientAuth == "post":
		form.Set("client_id", p.cfg.ClientID)
		form.Set("client_secret", secret)
	default:
		// RFC 6749 section 2.3.1: form-encode both before Basic.
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(secret))
		header.Set("Authorization", req.Header.Get("Authorization"))
	}
	return nil
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
}

// Issue exchanges a token for the configured audience. Server errors are
// retried until the retry deadline; refusals (4xx) return at once with the
// server's error_description. The grant's one Value is the access token
// (Kind provider.KindAccessToken); Fingerprint is its SHA-256; the grant is
// revocable when a revocation-url is configured.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {jwt},
		"subject_token_type": {p.cfg.SubjectTokenType},
	}
	if p.cfg.RequestedTokenType != "" {
		form.Set("requested_token_type", p.cfg.RequestedTokenType)
	}
	if p.cfg.TargetAudience != "" {
		form.Set("audience", p.cfg.TargetAudience)
	}
	if p.cfg.Resource != "" {
		form.Set("resource", p.cfg.Resource)
	}
	if len(p.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(p.cfg.Scopes, " "))
	}
	for name, value := range p.cfg.Parameters {
		form.Set(name, value)
	}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	if err := p.authenticate(form, header); err != nil {
		return nil, err
	}
	issuedAt := time.Now().UTC()
	var resp tokenResponse
	if _, err := wire.Do(ctx, wire.Request{
		Op: "token exchange", Method: http.MethodPost, URL: p.cfg.TokenURL, Header: header, Body: []byte(form.Encode()),
	}, &resp, p.opts); err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, errors.New("token exchange: response has no access_token")
	}
	life := p.cfg.TTL
	if resp.ExpiresIn > 0 {
		life = time.Duration(resp.ExpiresIn) * time.Second
	}
	g := &provider.Grant{
		Principal:   p.principal(),
		Fingerprint: wire.SHA256Hex(resp.AccessToken),
		IssuedAt:    issuedAt,
		// An upper bound: the token cannot outlive its answer plus its life.
		ExpiresAt: time.Now().UTC().Add(life),
		Revocable: p.cfg.RevocationURL != "",
		Values:    []provider.Value{{Name: p.cfg.Env, Secret: resp.AccessToken, Kind: provider.KindAccessToken}},
	}
	if g.Revocable {
		g.Private = map[string]string{"token": resp.AccessToken}
	}
	g.Restrictions = p.restrictions(resp.Scope)
	return g, nil
}

// restrictions are the token's scopes (the server's, which RFC 8693
// requires in the response when they differ from the request's, else the
// requested ones) and resource; nil when the request named neither and
// the server stated no scope.
func (p *Provider) restrictions(granted string) *provider.Restrictions {
	r := &provider.Restrictions{Scopes: p.cfg.Scopes, Resource: p.cfg.Resource}
	if granted != "" {
		r.Scopes = strings.Fields(granted)
	}
	if len(r.Scopes) == 0 && r.Resource == "" {
		return nil
	}
	return r
}

// Revoke posts the token to the RFC 7009 revocation endpoint (a 200 means
// revoked), or returns provider.ErrNotRevocable without one.
func (p *Provider) Revoke(ctx context.Context, g *provider.Grant) error {
	if p.cfg.RevocationURL == "" {
		return provider.ErrNotRevocable
	}
	token := g.Private["token"]
	if token == "" {
		return errors.New("token revocation: grant has no token")
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	if err := p.authenticate(form, header); err != nil {
		return err
	}
	_, err := wire.Do(ctx, wire.Request{
		Op: "token revocation", Method: http.MethodPost, URL: p.cfg.RevocationURL, Header: header, Body: []byte(form.Encode()),
	}, nil, p.opts)
	return err
}
