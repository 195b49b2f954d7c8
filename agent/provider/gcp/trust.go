package gcp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// attributeName is what GCP accepts after "attribute.".
var attributeName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,99}$`)

// RenderTrust implements provider.TrustRenderer: the workload identity
// pool provider (the REST resource's body: issuer, audience, an attribute
// for each bound claim and a condition requiring their values), and, with a
// service account, the IAM binding that lets the bound identity
// impersonate it. The attribute condition is CEL over assertion.*, so
// every claim of the token can be bound.
func (p *Provider) RenderTrust(b provider.Binding) (provider.Trust, error) {
	if err := b.RequireProject(); err != nil {
		return provider.Trust{}, err
	}
	mapping := map[string]string{"google.subject": "assertion.sub"}
	var cond []string
	for _, name := range b.ClaimNames() {
		if !attributeName.MatchString(name) {
			return provider.Trust{}, fmt.Errorf("claim %s cannot be an attribute name (lower case letters, digits, _)", name)
		}
		mapping["attribute."+name] = "assertion." + name
		cond = append(cond, fmt.Sprintf("assertion.%s == %s", name, celString(b.Claims[name])))
	}
	pool := p.cfg.WorkloadIdentityProvider[:strings.Index(p.cfg.WorkloadIdentityProvider, "/providers/")]
	doc := map[string]any{
		"name":               p.cfg.WorkloadIdentityProvider,
		"attributeMapping":   mapping,
		"attributeCondition": strings.Join(cond, " && "),
		"oidc": map[string]any{
			"issuerUri":        b.Issuer,
			"allowedAudiences": []string{p.cfg.Audience},
		},
	}
	base := pool[strings.LastIndexByte(pool, '/')+1:]
	providerDoc, err := provider.JSONDocument(base+".provider.json", doc)
	if err != nil {
		return provider.Trust{}, err
	}
	docs := []provider.TrustDocument{providerDoc}
	if p.cfg.ServiceAccount != "" {
		// The principal set is one attribute's: the repository's or the
		// project's (RequireProject), by id where it is bound.
		attr := "sub"
		for _, name := range []string{"project_path", "repository", "project_id", "repository_id"} {
			if _, ok := b.Claims[name]; ok {
				attr = name
			}
		}
		binding, err := provider.JSONDocument(base+".service-account-binding.json", map[string]any{
			"serviceAccount": p.cfg.ServiceAccount,
			"role":           "roles/iam.workloadIdentityUser",
			"member":         fmt.Sprintf("principalSet://iam.googleapis.com/%s/attribute.%s/%s", pool, attr, b.Claims[attr]),
		})
		if err != nil {
			return provider.Trust{}, err
		}
		docs = append(docs, binding)
	}
	return provider.Trust{Documents: docs}, nil
}

// celString quotes s as a CEL string literal.
func celString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
