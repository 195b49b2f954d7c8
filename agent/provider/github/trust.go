package github

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// octoSTSPolicy is an octo-sts trust policy, in its field order.
type octoSTSPolicy struct {
	Issuer         string            `yaml:"issuer"`
	Subject        string            `yaml:"subject,omitempty"`
	SubjectPattern string            `yaml:"subject_pattern,omitempty"`
	Audience       string            `yaml:"audience,omitempty"`
	ClaimPattern   map[string]string `yaml:"claim_pattern,omitempty"`
	Permissions    map[string]string `yaml:"permissions"`
	Repositories   []string          `yaml:"repositories,omitempty"`
}

// RenderTrust implements provider.TrustRenderer: the octo-sts trust policy
// named by the scope's identity, to be committed as
// .github/chainguard/IDENTITY.sts.yaml in the scope's repository (or in
// the organisation's .github repository for an organisation scope). The
// subject carries what it can of the binding; other claims become exact
// claim patterns (octo-sts matches any claim). A binding with no sub,
// repository or project path (the job's ids only) matches any subject
// and binds the job by its claim patterns. The permissions are the scope's
// (octo-sts grants what the policy lists, whatever the request asks), or a
// least-privilege start (contents: read); an organisation policy reaches
// the scope's repositories.
func (p *Provider) RenderTrust(b provider.Binding) (provider.Trust, error) {
	pol := octoSTSPolicy{Issuer: b.Issuer, Permissions: map[string]string{"contents": "read"}, Repositories: p.cfg.Repositories}
	if len(p.cfg.Permissions) > 0 {
		pol.Permissions = p.cfg.Permissions
	}
	var covered []string
	_, hasSub := b.Claims["sub"]
	if hasSub || b.Claims["repository"] != "" || b.Claims["project_path"] != "" {
		sub, exact, c, err := b.Subject()
		if err != nil {
			return provider.Trust{}, err
		}
		covered = c
		if exact {
			pol.Subject = sub
		} else {
			pol.SubjectPattern = regexp.QuoteMeta(strings.TrimSuffix(sub, "*")) + ".*"
		}
	} else {
		if err := b.RequireProject(); err != nil {
			return provider.Trust{}, err
		}
		pol.SubjectPattern = ".+"
	}
	if u, err := url.Parse(p.cfg.Address); err == nil && p.cfg.Audience != u.Hostname() {
		pol.Audience = p.cfg.Audience
	}
	for _, name := range b.ClaimNames() {
		if !slices.Contains(covered, name) {
			if pol.ClaimPattern == nil {
				pol.ClaimPattern = map[string]string{}
			}
			pol.ClaimPattern[name] = regexp.QuoteMeta(b.Claims[name])
		}
	}
	var buf bytes.Buffer
	where := "repository " + p.cfg.Scope
	if !strings.Contains(p.cfg.Scope, "/") {
		where = "the .github repository of organisation " + p.cfg.Scope
	}
	fmt.Fprintf(&buf, "# octo-sts trust policy %q: commit it as .github/chainguard/%s.sts.yaml in %s.\n", p.cfg.Identity, p.cfg.Identity, where)
	if pol.SubjectPattern == ".+" {
		buf.WriteString("# Any subject: the claim patterns bind the job by its immutable ids.\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(pol); err != nil {
		return provider.Trust{}, err
	}
	return provider.Trust{Documents: []provider.TrustDocument{{Name: p.cfg.Identity + ".sts.yaml", MediaType: "application/yaml", Content: buf.Bytes()}}}, nil
}
