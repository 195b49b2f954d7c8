package vault

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// RenderTrust implements provider.TrustRenderer: the JWT auth mount's
// config naming the issuer (`vault write auth/MOUNT/config @file`; it is
// shared by the mount's roles), the role the scope logs in with (`vault
// write auth/MOUNT/role/ROLE @file`), bound to the audience and the bound
// claims, issuing service tokens (batch tokens cannot be revoked), and an
// ACL policy that reads exactly the scope's secret paths (`vault policy
// write ROLE file`). A scope that narrows its token (policies, ttl) gets
// its policies among the role's, and the ACL lets the login token create
// the narrowed child. Vault's bound_claims can bind every claim of the
// token.
func (p *Provider) RenderTrust(b provider.Binding) (provider.Trust, error) {
	if err := b.RequireProject(); err != nil {
		return provider.Trust{}, err
	}
	role := map[string]any{
		"role_type":         "jwt",
		"bound_audiences":   []string{p.cfg.Audience},
		"user_claim":        "sub",
		"bound_claims_type": "string",
		"bound_claims":      b.Claims,
		"token_type":        "service",
		"token_ttl":         "15m",
		"token_max_ttl":     "1h",
		"token_policies":    append([]string{p.cfg.Role}, p.cfg.Policies...),
	}
	roleDoc, err := provider.JSONDocument(p.cfg.Role+".role.json", role)
	if err != nil {
		return provider.Trust{}, err
	}
	var paths []string
	for _, s := range p.cfg.Secrets {
		if !slices.Contains(paths, s.Path) {
			paths = append(paths, s.Path)
		}
	}
	var acl strings.Builder
	fmt.Fprintf(&acl, "# The secrets of chaperone scope role %q; nothing else.\n", p.cfg.Role)
	for _, path := range paths {
		fmt.Fprintf(&acl, "path %q {\n  capabilities = [\"read\"]\n}\n", path)
	}
	if len(p.cfg.Policies) > 0 || p.cfg.TTL > 0 {
		fmt.Fprintf(&acl, "# The job narrows its token to a child with a subset of these policies.\npath \"auth/token/create\" {\n  capabilities = [\"update\"]\n}\n")
	}
	// The issuer is the auth mount's setting, shared by its roles.
	mountDoc, err := provider.JSONDocument(p.cfg.Mount+".config.json", map[string]string{
		"oidc_discovery_url": b.Issuer,
		"bound_issuer":       b.Issuer,
	})
	if err != nil {
		return provider.Trust{}, err
	}
	return provider.Trust{Documents: []provider.TrustDocument{
		mountDoc,
		roleDoc,
		{Name: p.cfg.Role + ".policy.hcl", MediaType: "text/x-hcl", Content: []byte(acl.String())},
	}}, nil
}
