package agent

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// trustTargetProvider returns the provider of the scopes a trust target
// (an issuer whose trust configuration chaperone writes) configures.
func trustTargetProvider(target string) (string, bool) {
	switch target {
	case "aws", "gcp", "vault":
		return target, true
	case "octo-sts":
		return "github", true
	}
	return "", false
}

// DefaultIssuer is the token issuer of a platform's hosted service.
func DefaultIssuer(platform string) string {
	if platform == PlatformGitLab {
		return "https://gitlab.com"
	}
	return "https://token.actions.githubusercontent.com"
}

// ImmutableClaims are the claims of a platform's job tokens that name the
// job's repository (GitHub) or project (GitLab) and its workflow by what
// cannot be renamed, transferred or recreated under the same name: GitHub's
// repository_id, repository_owner_id and job_workflow_ref; GitLab's
// project_id, namespace_id and ref_protected.
func ImmutableClaims(platform string) []string {
	if platform == PlatformGitLab {
		return []string{"project_id", "namespace_id", "ref_protected"}
	}
	return []string{"repository_id", "repository_owner_id", "job_workflow_ref"}
}

// mutableClaims maps the claims that name what can be renamed or
// recreated to the immutable claim to bind instead.
var mutableClaims = map[string]string{
	"repository":       "repository_id",
	"repository_owner": "repository_owner_id",
	"project_path":     "project_id",
	"namespace_path":   "namespace_id",
}

// BindingWarnings says, for each mutable claim a user binds, what to bind
// instead: a repository, owner, project or namespace name (a renamed or
// deleted one can be taken over under the same name), and a ref without
// ref_protected=true (anyone who can push a branch of that name gets it).
func BindingWarnings(b provider.Binding) []string {
	var out []string
	for _, name := range b.ClaimNames() {
		if id, ok := mutableClaims[name]; ok {
			out = append(out, fmt.Sprintf("--bind %s=%s binds a name: whoever later holds that name (after a rename, a transfer or a deletion) is admitted too; bind %s instead", name, b.Claims[name], id))
		}
	}
	if ref, ok := b.Claims["ref"]; ok && b.Claims["ref_protected"] != "true" {
		out = append(out, fmt.Sprintf("--bind ref=%s without ref_protected=true: anyone who can push a ref of that name is admitted; bind ref_protected=true too (a protected branch or tag)", ref))
	}
	return out
}

// RenderedTrust is the issuer-side configuration of one scope.
type RenderedTrust struct {
	Scope     string                   `json:"scope"`
	Target    string                   `json:"target"`
	Documents []provider.TrustDocument `json:"documents"`
	// Notes say what the target could not bind and what it bound instead.
	Notes []string `json:"notes,omitempty"`
}

// checkIssuerURL accepts an https issuer, or an http one on a loopback
// host (a local stand-in, never a real CI's issuer).
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err == nil && u.Host != "" {
		if u.Scheme == "https" {
			return nil
		}
		if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
			return nil
		}
	}
	return configErrorf("policy render: issuer %q is not an https URL", issuer)
}

// RenderTrust writes, for every scope of cfg that the target's issuer
// serves, the trust configuration under which the bound identity (and no
// other) obtains the scope's credentials.
func RenderTrust(cfg *Config, target string, b provider.Binding) ([]RenderedTrust, error) {
	want, ok := trustTargetProvider(target)
	if !ok {
		return nil, configErrorf("policy render: target %q is not one of aws, gcp, vault, octo-sts", target)
	}
	if err := checkIssuerURL(b.Issuer); err != nil {
		return nil, err
	}
	var out []RenderedTrust
	for i, sc := range cfg.Scopes {
		if sc.Provider != want {
			continue
		}
		p, err := buildProvider(cfg, i, nil)
		if err != nil {
			return nil, err
		}
		r, ok := p.(provider.TrustRenderer)
		if !ok {
			return nil, fmt.Errorf("policy render: provider %s cannot render trust", sc.Provider)
		}
		trust, err := r.RenderTrust(b)
		if err != nil {
			return nil, configErrorf("policy render: scope %q: %v", sc.Name, err)
		}
		out = append(out, RenderedTrust{Scope: sc.Name, Target: target, Documents: trust.Documents, Notes: trust.Notes})
	}
	if len(out) == 0 {
		return nil, configErrorf("policy render: the config has no %s scope for target %s", want, target)
	}
	return out, nil
}

// JobBinding binds the immutable claims (ImmutableClaims) of a job's
// token: the one in tokenFile when it is set (a token saved from another
// job; it may have expired), else the current job's, obtained as Start
// obtains it for the first scope the target serves. The platform and the
// issuer are the token's. GitLab's ref_protected is bound only when it is
// "true". A token without the repository's or project's id is refused.
func (s *Session) JobBinding(ctx context.Context, target, tokenFile string) (provider.Binding, error) {
	want, ok := trustTargetProvider(target)
	if !ok {
		return provider.Binding{}, configErrorf("policy render: target %q is not one of aws, gcp, vault, octo-sts", target)
	}
	var t *token
	if tokenFile != "" {
		raw, err := readBounded(tokenFile, MaxTokenBytes)
		if err != nil {
			return provider.Binding{}, configErrorf("policy render: --token-file: %v", err)
		}
		if t, err = parseToken(string(raw)); err != nil {
			return provider.Binding{}, configErrorf("policy render: --token-file %s: %v", tokenFile, err)
		}
	} else {
		i := slices.IndexFunc(s.cfg.Scopes, func(sc Scope) bool { return sc.Provider == want })
		if i < 0 {
			return provider.Binding{}, configErrorf("policy render: the config has no %s scope for target %s", want, target)
		}
		p, err := buildProvider(s.cfg, i, s.opts.Getenv, s.providerOptions()...)
		if err != nil {
			return provider.Binding{}, err
		}
		id, err := s.identity()
		if err != nil {
			return provider.Binding{}, configErrorf("policy render: %v; outside the job, render for a token saved from it with --token-file F, or bind claims with --bind CLAIM=VALUE", err)
		}
		if t, err = id.token(ctx, s.cfg.Scopes[i], p.Describe().Audience); err != nil {
			return provider.Binding{}, fmt.Errorf("policy render: the job's identity: %s", s.scrub(err.Error()))
		}
	}
	return bindingFromToken(t)
}

// bindingFromToken binds t's immutable claims; see JobBinding.
func bindingFromToken(t *token) (provider.Binding, error) {
	claims := t.stringClaims()
	if t.Subject != "" {
		claims["sub"] = t.Subject
	}
	b := provider.Binding{Issuer: t.Issuer, Claims: map[string]string{}, FromJob: true, Job: claims}
	switch {
	case claims["repository_id"] != "":
		b.Platform = PlatformGitHub
	case claims["project_id"] != "":
		b.Platform = PlatformGitLab
	default:
		return provider.Binding{}, configErrorf("policy render: the token of %s names no repository_id (GitHub) or project_id (GitLab): bind the claims to bind with --bind", t.Issuer)
	}
	for _, name := range ImmutableClaims(b.Platform) {
		v := claims[name]
		if v == "" || (name == "ref_protected" && v != "true") {
			continue
		}
		b.Claims[name] = v
	}
	return b, nil
}

// JobBindingNotes says what a binding from the job leaves out: a GitLab
// job on an unprotected ref is not bound to protected refs.
func JobBindingNotes(b provider.Binding) []string {
	if b.Platform == PlatformGitLab && b.Claims["ref_protected"] == "" {
		return []string{fmt.Sprintf("the job runs on ref %q, which is not protected: the policy does not require a protected ref; render from a job on a protected branch or tag to bind ref_protected=true", strings.TrimSpace(b.Job["ref"]))}
	}
	return nil
}
