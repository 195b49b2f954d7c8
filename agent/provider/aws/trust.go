package aws

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Claims AWS STS evaluates as condition keys (ISSUER_HOST:CLAIM) in a role
// trust policy, besides aud and sub: GitHub's provider-specific claims
// (any GitHub issuer), and those of gitlab.com's tokens. Tokens of other
// issuers (a self-managed GitLab) are checked on aud and sub only.
var (
	githubConditionKeys = []string{"actor", "actor_id", "enterprise_id", "environment", "job_workflow_ref", "ref", "repository", "repository_id", "workflow"}
	gitlabConditionKeys = []string{"namespace_id", "pipeline_source", "project_id", "ref_protected", "user_access_level", "user_email", "user_id", "user_login"}
)

// subjectClaims are the claims Binding.Subject folds into the sub.
var subjectClaims = []string{"sub", "repository", "environment", "ref", "project_path", "ref_type"}

// conditionKeys returns the claims AWS evaluates for b's tokens besides aud
// and sub.
func conditionKeys(b provider.Binding) []string {
	switch {
	case b.Platform == "github":
		return githubConditionKeys
	case b.Platform == "gitlab" && strings.TrimSuffix(b.Issuer, "/") == "https://gitlab.com":
		return gitlabConditionKeys
	}
	return nil
}

// RenderTrust implements provider.TrustRenderer: the trust policy of the
// scope's role, which lets the bound identity's tokens (from the issuer's
// IAM OIDC provider, for the scope's audience) assume it. The repository
// or project, ref and environment bound by name go into the sub
// condition; other claims become condition keys where AWS evaluates them
// (GitHub's repository_id, job_workflow_ref, ...; gitlab.com's
// project_id, namespace_id, ref_protected, ...). A claim AWS does not
// evaluate is refused, or, for a binding from the job's own token, left
// out with a note; where no id can be bound the repository or project is
// bound by name in the sub.
//
// A MinIO role has no trust policy: MinIO admits every token of its
// OpenID provider's issuer whose aud (or azp) is the provider's client id,
// so the job is bound in the role's policy instead, which is refused here
// with what to write.
func (p *Provider) RenderTrust(b provider.Binding) (provider.Trust, error) {
	if minioRoleARN.MatchString(p.cfg.RoleARN) {
		return provider.Trust{}, fmt.Errorf("role-arn %q is a MinIO role, which has no trust policy: MinIO admits every token of its OpenID issuer whose aud is the client id (%q here), so bind the job in the role's policy with a Condition on jwt:sub, and give the client id an audience no other relying party uses", p.cfg.RoleARN, p.cfg.Audience)
	}
	parts := strings.Split(p.cfg.RoleARN, ":")
	if len(parts) < 6 || parts[4] == "" {
		return provider.Trust{}, fmt.Errorf("role-arn %q names no account", p.cfg.RoleARN)
	}
	for _, name := range b.ClaimNames() {
		if strings.ContainsAny(b.Claims[name], "*?") {
			return provider.Trust{}, fmt.Errorf("claim %s: %q holds a wildcard, which an AWS StringLike condition would expand", name, b.Claims[name])
		}
	}
	keys := conditionKeys(b)
	checked := "the audience and the subject"
	if len(keys) > 0 {
		checked += " and " + strings.Join(keys, ", ")
	}
	var notes []string
	for _, name := range b.ClaimNames() {
		if slices.Contains(keys, name) || slices.Contains(subjectClaims, name) {
			continue
		}
		if !b.FromJob {
			return provider.Trust{}, fmt.Errorf("claim %s cannot be bound: an AWS trust policy checks only %s of %s's tokens", name, checked, b.IssuerHost())
		}
		notes = append(notes, fmt.Sprintf("AWS cannot condition on %s (a trust policy checks only %s of %s's tokens): left out", name, checked, b.IssuerHost()))
		b = b.Without(name)
	}
	if b.RequireProject() != nil && b.FromJob {
		name := "repository"
		if b.Platform == "gitlab" {
			name = "project_path"
		}
		if b.Job[name] != "" {
			b = b.With(name, b.Job[name])
			notes = append(notes, fmt.Sprintf("bound %s %q by name, in the subject: AWS checks no id claim of %s's tokens, so a %s renamed to this name later would be admitted too", name, b.Job[name], b.IssuerHost(), strings.TrimSuffix(name, "_path")))
		}
	}
	if err := b.RequireProject(); err != nil {
		return provider.Trust{}, err
	}

	host := b.IssuerHost()
	equals := map[string]string{host + ":aud": p.cfg.Audience}
	conditions := map[string]map[string]string{"StringEquals": equals}
	var covered []string
	if _, ok := b.Claims["sub"]; ok || b.Claims["repository"] != "" || b.Claims["project_path"] != "" {
		sub, exact, c, err := b.Subject()
		if err != nil {
			return provider.Trust{}, err
		}
		covered = c
		if exact {
			equals[host+":sub"] = sub
		} else {
			conditions["StringLike"] = map[string]string{host + ":sub": sub}
		}
	}
	for _, name := range b.ClaimNames() {
		if slices.Contains(covered, name) {
			continue
		}
		if !slices.Contains(keys, name) {
			return provider.Trust{}, fmt.Errorf("claim %s cannot be bound: an AWS trust policy checks only %s of %s's tokens, and %s is part of the subject only with the repository or project", name, checked, host, name)
		}
		equals[host+":"+name] = b.Claims[name]
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
		return provider.Trust{}, err
	}
	return provider.Trust{Documents: []provider.TrustDocument{d}, Notes: notes}, nil
}
