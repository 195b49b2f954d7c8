// Package github issues GitHub App installation tokens through an
// octo-sts-compatible exchange (the job's OIDC token for a token scoped
// by a trust policy), and revokes them with DELETE /installation/token at
// the GitHub API: the exchange serves only /sts/exchange.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Config is a github scope's settings in .chaperone.yml.
type Config struct {
	// Address is the exchange's base URL (octo-sts: https://octo-sts.dev).
	Address string `mapstructure:"address"`
	// API is the GitHub API base that revokes the token (DELETE
	// /installation/token). Default: APIFromEnv with the process
	// environment (the agent fills it from the job's), which is
	// GITHUB_API_URL where the runner sets it (GitHub Enterprise Server)
	// and DefaultAPI elsewhere. Never the exchange: octo-sts serves only
	// /sts/exchange.
	API      string `mapstructure:"api"`
	Audience string `mapstructure:"audience"` // default: Address's host
	Scope    string `mapstructure:"scope"`    // org/repo or org
	Identity string `mapstructure:"identity"` // trust policy name
	Env      string `mapstructure:"env"`      // default GITHUB_TOKEN
	// TTL is how long the exchange's tokens live (GitHub: 1h). It is the
	// exposure bound recorded if revocation fails.
	TTL time.Duration `mapstructure:"ttl"`
	// Permissions narrow the token to these permissions (name → read,
	// write or admin), each at most what the trust policy grants: the
	// exchange refuses more. Default: the trust policy's.
	Permissions map[string]string `mapstructure:"permissions"`
	// Repositories narrow the token of an organisation scope to these
	// repositories (names, without the owner), among those its trust
	// policy reaches. Default: all of those.
	Repositories []string `mapstructure:"repositories"`
}

var (
	permissionName = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
	repositoryName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)
)

// DefaultAPI is the GitHub API of github.com.
const DefaultAPI = "https://api.github.com"

// APIFromEnv is the GitHub API base of the job whose environment getenv
// reads (nil: the process's): GITHUB_API_URL, which GitHub's runners set
// (on GitHub Enterprise Server, https://HOST/api/v3), or DefaultAPI where
// it is unset or empty. A GITHUB_API_URL that is not an http(s) URL is an
// error naming it.
func APIFromEnv(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	api := getenv("GITHUB_API_URL")
	if api == "" {
		return DefaultAPI, nil
	}
	if _, err := wire.ParseHTTPURL("GITHUB_API_URL", api); err != nil {
		return "", fmt.Errorf("api is not set and %w", err)
	}
	return api, nil
}

// Provider exchanges OIDC tokens for installation tokens.
type Provider struct {
	cfg  Config
	opts wire.Options
}

// New validates cfg and returns a Provider.
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	if cfg.Address == "" {
		return nil, errors.New("address is required (the token exchange, e.g. https://octo-sts.dev)")
	}
	u, err := wire.ParseHTTPURL("address", cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Scope == "" {
		return nil, errors.New("scope is required (org/repo or org)")
	}
	if cfg.Identity == "" {
		return nil, errors.New("identity is required (the trust policy name)")
	}
	if cfg.API == "" {
		if cfg.API, err = APIFromEnv(nil); err != nil {
			return nil, err
		}
	}
	if _, err := wire.ParseHTTPURL("api", cfg.API); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		cfg.Audience = u.Hostname()
	}
	if cfg.Env == "" {
		cfg.Env = "GITHUB_TOKEN"
	}
	if err := provider.CheckEnvName("env", cfg.Env); err != nil {
		return nil, err
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	for name, level := range cfg.Permissions {
		if !permissionName.MatchString(name) {
			return nil, provider.KeyErrorf("permissions", "permissions: %q is not a GitHub App permission name (contents, issues, pull_requests, ...)", name)
		}
		if level != "read" && level != "write" && level != "admin" {
			return nil, provider.KeyErrorf("permissions."+name, "permissions.%s: %q is not read, write or admin", name, level)
		}
	}
	for i, name := range cfg.Repositories {
		if !repositoryName.MatchString(name) {
			key := fmt.Sprintf("repositories[%d]", i)
			return nil, provider.KeyErrorf(key, "%s %q is not a repository name (without its owner)", key, name)
		}
	}
	if len(cfg.Repositories) > 0 && strings.Contains(cfg.Scope, "/") {
		return nil, provider.KeyErrorf("repositories", "repositories narrow an organisation scope; scope %s is one repository already", cfg.Scope)
	}
	set := provider.Apply(opts...)
	return &Provider{cfg: cfg, opts: wire.Options{Client: set.Client, Deadline: set.RetryDeadline}}, nil
}

// Describe implements provider.Provider.
func (p *Provider) Describe() provider.Description {
	// Installation tokens live one hour, whatever ttl says (ttl only bounds
	// what is recorded should revocation fail).
	return provider.Description{Provider: "github", Principal: p.cfg.Scope + "/" + p.cfg.Identity, Audience: p.cfg.Audience, Endpoint: p.cfg.Address, Lifetime: time.Hour}
}

// ValueNames lists the name of the value Issue hands the job: env
// (default GITHUB_TOKEN).
func (p *Provider) ValueNames() []string { return []string{p.cfg.Env} }

// Issue exchanges the job's OIDC token for an installation token. With
// permissions or repositories the request narrows the token
// (permissions[NAME]=LEVEL and repositories=NAME parameters, as the
// installation token API takes them); an exchange that cannot grant them
// refuses with its reason, and the grant's Restrictions record them.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	q := url.Values{"scope": {p.cfg.Scope}, "identity": {p.cfg.Identity}}
	var restrictions *provider.Restrictions
	if len(p.cfg.Permissions) > 0 || len(p.cfg.Repositories) > 0 {
		restrictions = &provider.Restrictions{Permissions: p.cfg.Permissions, Repositories: p.cfg.Repositories}
		for name, level := range p.cfg.Permissions {
			q.Set("permissions["+name+"]", level)
		}
		for _, name := range p.cfg.Repositories {
			q.Add("repositories", name)
		}
	}
	var resp struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	issuedAt := time.Now().UTC()
	if _, err := wire.Do(ctx, wire.Request{
		Op: "github token exchange", Method: http.MethodGet,
		URL:    strings.TrimRight(p.cfg.Address, "/") + "/sts/exchange?" + q.Encode(),
		Header: http.Header{"Authorization": {"Bearer " + jwt}, "Accept": {"application/json"}},
	}, &resp, p.opts); err != nil {
		return nil, err
	}
	if resp.Token == "" {
		return nil, errors.New("github token exchange: response has no token")
	}
	expires := resp.ExpiresAt
	if expires.IsZero() {
		expires = issuedAt.Add(p.cfg.TTL)
	}
	return &provider.Grant{
		Principal:    p.cfg.Scope + "/" + p.cfg.Identity,
		Fingerprint:  wire.SHA256Hex(resp.Token),
		IssuedAt:     issuedAt,
		ExpiresAt:    expires.UTC(),
		Revocable:    true,
		Values:       []provider.Value{{Name: p.cfg.Env, Secret: resp.Token, Kind: provider.KindGitHubToken}},
		Private:      map[string]string{"token": resp.Token},
		Restrictions: restrictions,
	}, nil
}

// Revoke deletes the installation token at the GitHub API (204 on
// success).
func (p *Provider) Revoke(ctx context.Context, g *provider.Grant) error {
	token := g.Private["token"]
	if token == "" {
		return errors.New("github revoke: grant has no token")
	}
	api := strings.TrimRight(p.cfg.API, "/")
	_, err := wire.Do(ctx, wire.Request{
		Op: "github revoke at " + api, Method: http.MethodDelete,
		URL:    api + "/installation/token",
		Header: http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/vnd.github+json"}},
	}, nil, p.opts)
	return err
}
