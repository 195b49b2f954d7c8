// Package vault issues credentials from HashiCorp Vault or OpenBao: a JWT
// login with the job's OIDC token, KV v2 reads into named values, and
// revoke-self at the end, which also revokes the token's child leases.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Config is a vault scope's settings in .chaperone.yml.
type Config struct {
	Address   string   `mapstructure:"address"`
	Role      string   `mapstructure:"role"`
	Mount     string   `mapstructure:"mount"`     // auth mount, default "jwt"
	Audience  string   `mapstructure:"audience"`  // default: the address
	Namespace string   `mapstructure:"namespace"` // Vault Enterprise / OpenBao namespace
	Secrets   []Secret `mapstructure:"secrets"`
	// TokenEnv, when set, also hands the Vault token itself to the job
	// under that name (for jobs that talk to Vault directly).
	TokenEnv string `mapstructure:"token-env"`
	// Policies narrow the job's token to these policies, a subset of the
	// role's (Vault refuses others): the login token creates a child token
	// with exactly them (plus "default" only if listed), which reads the
	// secrets and is the one handed to the job. Its policies need update
	// on auth/token/create. TTL, likewise, shortens the token's life
	// below the role's. Either one makes the child token.
	Policies []string      `mapstructure:"policies"`
	TTL      time.Duration `mapstructure:"ttl"`
}

// Secret is one KV v2 field handed to the job as Env.
type Secret struct {
	Path  string `mapstructure:"path"`  // full API path, e.g. secret/data/ci/db
	Field string `mapstructure:"field"` // key inside data.data
	Env   string `mapstructure:"env"`
}

// Provider issues Vault tokens and the secrets they can read.
type Provider struct {
	cfg  Config
	opts wire.Options
}

// New validates cfg and returns a Provider.
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	if cfg.Address == "" {
		return nil, errors.New("address is required")
	}
	_, err := wire.ParseHTTPURL("address", cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Role == "" {
		return nil, errors.New("role is required")
	}
	if cfg.Mount == "" {
		cfg.Mount = "jwt"
	}
	if cfg.Audience == "" {
		cfg.Audience = strings.TrimRight(cfg.Address, "/")
	}
	if cfg.TokenEnv != "" {
		if err := provider.CheckEnvName("token-env", cfg.TokenEnv); err != nil {
			return nil, err
		}
	}
	for i, name := range cfg.Policies {
		if name == "" || name == "root" || strings.ContainsAny(name, " ,\t\r\n") {
			return nil, fmt.Errorf("policies[%d] %q is not a policy a child token can have", i, name)
		}
	}
	if cfg.TTL < 0 || cfg.TTL%time.Second != 0 {
		return nil, fmt.Errorf("ttl %v must be whole seconds", cfg.TTL)
	}
	if len(cfg.Secrets) == 0 && cfg.TokenEnv == "" {
		return nil, errors.New("secrets (or token-env) is required: the scope would hand nothing to the job")
	}
	seen := map[string]bool{}
	for i, s := range cfg.Secrets {
		if s.Path == "" || s.Field == "" || s.Env == "" {
			return nil, fmt.Errorf("secrets[%d]: path, field and env are all required", i)
		}
		if err := provider.CheckEnvName(fmt.Sprintf("secrets[%d].env", i), s.Env); err != nil {
			return nil, err
		}
		if seen[s.Env] {
			return nil, fmt.Errorf("secrets[%d]: env %s is used twice", i, s.Env)
		}
		seen[s.Env] = true
	}
	set := provider.Apply(opts...)
	return &Provider{cfg: cfg, opts: wire.Options{Client: set.Client, Deadline: set.RetryDeadline}}, nil
}

// Describe implements provider.Provider.
func (p *Provider) Describe() provider.Description {
	return provider.Description{Provider: "vault", Principal: p.cfg.Role, Audience: p.cfg.Audience, Endpoint: p.cfg.Address}
}

// ValueNames lists the names of the values Issue hands the job, in order:
// token-env when set, then each secret's env.
func (p *Provider) ValueNames() []string {
	var names []string
	if p.cfg.TokenEnv != "" {
		names = append(names, p.cfg.TokenEnv)
	}
	for _, s := range p.cfg.Secrets {
		names = append(names, s.Env)
	}
	return names
}

type loginResponse struct {
	Auth struct {
		ClientToken   string   `json:"client_token"`
		Accessor      string   `json:"accessor"`
		LeaseDuration int64    `json:"lease_duration"`
		TokenPolicies []string `json:"token_policies"`
	} `json:"auth"`
}

type kvResponse struct {
	Data struct {
		Data map[string]any `json:"data"`
	} `json:"data"`
}

// Issue logs in with the job's token and reads every configured secret.
// If a read fails the token is revoked before the error is returned, so a
// half-issued grant never outlives the call.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"role": p.cfg.Role, "jwt": jwt})
	var login loginResponse
	issuedAt := time.Now().UTC()
	if _, err := wire.Do(ctx, wire.Request{
		Op: "vault login", Method: http.MethodPost, URL: p.url("auth", p.cfg.Mount, "login"),
		Header: p.header(""), Body: body,
	}, &login, p.opts); err != nil {
		return nil, err
	}
	if login.Auth.ClientToken == "" {
		return nil, errors.New("vault login: response has no client_token")
	}
	// The login token is what Revoke revokes: revoke-self revokes the
	// narrowed child with it.
	g := &provider.Grant{
		Principal:    p.cfg.Role,
		SessionName:  login.Auth.Accessor,
		IssuedAt:     issuedAt,
		Revocable:    true,
		Private:      map[string]string{"token": login.Auth.ClientToken},
		Restrictions: &provider.Restrictions{Policies: login.Auth.TokenPolicies},
	}
	token, lease := login.Auth.ClientToken, login.Auth.LeaseDuration
	if len(p.cfg.Policies) > 0 || p.cfg.TTL > 0 {
		child, err := p.narrow(ctx, token)
		if err != nil {
			_ = p.Revoke(ctx, g)
			return nil, err
		}
		token, lease = child.Auth.ClientToken, child.Auth.LeaseDuration
		g.Restrictions.Policies = child.Auth.TokenPolicies
	}
	if len(g.Restrictions.Policies) == 0 {
		g.Restrictions = nil
	}
	g.Fingerprint = wire.SHA256Hex(token)
	if lease > 0 {
		g.ExpiresAt = issuedAt.Add(time.Duration(lease) * time.Second)
	}
	if p.cfg.TokenEnv != "" {
		g.Values = append(g.Values, provider.Value{Name: p.cfg.TokenEnv, Secret: token, Kind: provider.KindVaultToken})
	}
	values, err := p.read(ctx, token)
	if err != nil {
		_ = p.Revoke(ctx, g)
		return nil, err
	}
	g.Values = append(g.Values, values...)
	return g, nil
}

// narrow creates the child of token that the scope's policies and ttl
// describe (auth/token/create); Vault refuses policies the parent lacks.
func (p *Provider) narrow(ctx context.Context, token string) (*loginResponse, error) {
	req := map[string]any{"display_name": "chaperone-" + p.cfg.Role}
	if len(p.cfg.Policies) > 0 {
		req["policies"] = p.cfg.Policies
		req["no_default_policy"] = !slices.Contains(p.cfg.Policies, "default")
	}
	if p.cfg.TTL > 0 {
		req["ttl"] = strconv.FormatInt(int64(p.cfg.TTL/time.Second), 10) + "s"
	}
	body, _ := json.Marshal(req)
	var child loginResponse
	if _, err := wire.Do(ctx, wire.Request{
		Op: "vault token create (narrowing to policies " + strings.Join(p.cfg.Policies, ", ") + ")", Method: http.MethodPost,
		URL: p.url("auth", "token", "create"), Header: p.header(token), Body: body,
	}, &child, p.opts); err != nil {
		return nil, err
	}
	if child.Auth.ClientToken == "" {
		return nil, errors.New("vault token create: response has no client_token")
	}
	return &child, nil
}

func (p *Provider) read(ctx context.Context, token string) ([]provider.Value, error) {
	cache := map[string]map[string]any{}
	var out []provider.Value
	for _, s := range p.cfg.Secrets {
		data, ok := cache[s.Path]
		if !ok {
			var kv kvResponse
			if _, err := wire.Do(ctx, wire.Request{
				Op: "vault read " + s.Path, Method: http.MethodGet, URL: p.url(strings.Split(strings.Trim(s.Path, "/"), "/")...),
				Header: p.header(token),
			}, &kv, p.opts); err != nil {
				var se *wire.StatusError
				if errors.As(err, &se) && se.Status == http.StatusNotFound {
					return nil, fmt.Errorf("vault read %s: no secret at this path (is it a KV v2 path like secret/data/...?)", s.Path)
				}
				if errors.As(err, &se) && se.Status == http.StatusForbidden {
					return nil, fmt.Errorf("%w (%s)", err, p.readRefusalHint(s.Path))
				}
				return nil, err
			}
			data = kv.Data.Data
			cache[s.Path] = data
		}
		v, ok := data[s.Field]
		if !ok {
			return nil, fmt.Errorf("vault read %s: field %q not found", s.Path, s.Field)
		}
		str, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("vault read %s: field %q: %w", s.Path, s.Field, err)
			}
			str = string(b)
		}
		out = append(out, provider.Value{Name: s.Env, Secret: str})
	}
	return out, nil
}

// readRefusalHint says what to check when a KV read of path is refused.
// With an exact-path ACL, such as the one RenderTrust writes, a mistyped
// path is refused (403), not missing (404), so the hint names both the
// path and the policy.
func (p *Provider) readRefusalHint(path string) string {
	hint := fmt.Sprintf("check that %q is the secret's KV v2 API path", path)
	if !strings.Contains(path, "/data/") {
		hint += " (KV v2 paths hold a data/ segment: secret/data/NAME)"
	}
	hint += fmt.Sprintf(", and that a policy of role %q grants read on it; `chaperone policy render --target vault` writes that policy, named %q", p.cfg.Role, p.cfg.Role)
	if p.cfg.Namespace != "" {
		hint += fmt.Sprintf(", in namespace %q", p.cfg.Namespace)
	}
	return hint
}

// Revoke calls revoke-self, which also revokes the token's leases.
func (p *Provider) Revoke(ctx context.Context, g *provider.Grant) error {
	token := g.Private["token"]
	if token == "" {
		return errors.New("vault revoke: grant has no token")
	}
	_, err := wire.Do(ctx, wire.Request{
		Op: "vault revoke-self", Method: http.MethodPost, URL: p.url("auth", "token", "revoke-self"),
		Header: p.header(token),
	}, nil, p.opts)
	return err
}

func (p *Provider) url(parts ...string) string {
	escaped := make([]string, 0, len(parts)+1)
	escaped = append(escaped, "v1")
	for _, s := range parts {
		escaped = append(escaped, url.PathEscape(s))
	}
	return strings.TrimRight(p.cfg.Address, "/") + "/" + strings.Join(escaped, "/")
}

func (p *Provider) header(token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("X-Vault-Token", token)
	}
	if p.cfg.Namespace != "" {
		h.Set("X-Vault-Namespace", p.cfg.Namespace)
	}
	return h
}
