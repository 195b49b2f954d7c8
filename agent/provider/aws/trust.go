package aws

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// RenderTrust implements provider.TrustRenderer: the trust policy of the
// scope's role, which lets the bound identity's tokens (from the issuer's
// IAM OIDC provider, for the scope's audience) assume it. AWS evaluates
// only aud and sub for GitHub's tokens, so every bound claim must be part
// of the subject.
//
// A MinIO role has no trust policy: MinIO admits every token of its
// OpenID provider's issuer whose aud (or azp) is the provider's client id,
// so the job is bound in the role's policy instead, which is refused here
// with what to write.
func (p *Provider) RenderTrust(b provider.Binding) ([]provider.TrustDocument, error) {
	if minioRoleARN.MatchString(p.cfg.RoleARN) {
		return nil, fmt.Errorf("role-arn %q is a MinIO role, which has no trust policy: MinIO admits every token of its OpenID issuer whose aud is the client id (%q here), so bind the job in the role's policy with a Condition on jwt:sub, and give the client id an audience no other relying party uses", p.cfg.RoleARN, p.cfg.Audience)
	}
	parts := strings.Split(p.cfg.RoleARN, ":")
	if len(parts) < 6 || parts[4] == "" {
		return nil, fmt.Errorf("role-arn %q names no account", p.cfg.RoleARN)
	}
	for _, name := range b.ClaimNames() {
		if strings.ContainsAny(b.Claims[name], "*?") {
			return nil, fmt.Errorf("claim %s: %q holds a wildcard, which an AWS StringLike condition would expand", name, b.Claims[name])
		}
	}
	sub, exact, covered, err := b.Subject()
	if err != nil {
		return nil, err
	}
	for _, name := range b.ClaimNames() {
		if !slices.Contains(covered, name) {
			return nil, fmt.Errorf("claim %s cannot be bound: an AWS trust policy checks only the audience and the subject (%s)", name, strings.Join(covered, ", "))
		}
	}
	host := b.IssuerHost()
	subOp := "StringEquals"
	if !exact {
		subOp = "StringLike"
	}
	conditions := map[string]map[string]string{"StringEquals": {host + ":aud": p.cfg.Audience}}
	if subOp == "StringEquals" {
		conditions["StringEquals"][host+":sub"] = sub
	} else {
		conditions[subOp] = map[string]string{host + ":sub": sub}
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":       "ChaperoneFederatedCI",
			"Effect":    "Allow",
			"Principal": map[string]string{"Federated": fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", parts[1], parts[4], host)},
			"Action":    "sts:AssumeRoleWithWebIdentity",
			"Condition": conditions,
		}},
	}
	name := parts[5]
	name = name[strings.LastIndexByte(name, '/')+1:]
	d, err := provider.JSONDocument(name+".trust-policy.json", doc)
	if err != nil {
		return nil, err
	}
	return []provider.TrustDocument{d}, nil
}
