package scan

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	// githubSecretRef is ${{ secrets.NAME }} in a workflow.
	githubSecretRef = regexp.MustCompile(`\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}`)
	// gitlabVariableRef is $NAME or ${NAME} in .gitlab-ci.yml.
	gitlabVariableRef = regexp.MustCompile(`\$\{?([A-Za-z][A-Za-z0-9_]*)\}?`)
	// staticKeyInput is an action input that takes a static key.
	staticKeyInput = regexp.MustCompile(`(?:^\s*|[{,]\s*)(aws-access-key-id|aws-secret-access-key|credentials_json)\s*:`)
)

// secretUses reports the long-lived secrets a CI configuration line hands
// to a job, and the action inputs that take static keys.
func secretUses(ci, name string, n int, line string) []Finding {
	// A YAML comment starts at a '#' after white space (or the line's start).
	if i := strings.Index(" "+line, " #"); i >= 0 {
		line = line[:i]
	}
	var out []Finding
	refs := githubSecretRef
	if ci == "gitlab" {
		refs = gitlabVariableRef
	}
	for _, m := range refs.FindAllStringSubmatchIndex(line, -1) {
		if ci == "gitlab" && m[0] > 0 && line[m[0]-1] == '$' {
			continue // $$NAME is the literal text $NAME
		}
		secret := line[m[2]:m[3]]
		provider, what := classify(secret)
		if what == "" {
			continue
		}
		msg := fmt.Sprintf("%s is %s", secret, what)
		if provider != "" {
			msg += fmt.Sprintf(": a chaperone %s scope issues a short-lived one from the job's identity", provider)
		}
		out = append(out, Finding{Rule: RuleLongLivedSecret, Path: name, Line: n, Column: column(line, m[0]), Message: msg, Provider: provider})
	}
	if ci == "github" {
		if m := staticKeyInput.FindStringSubmatchIndex(line); m != nil {
			input := line[m[2]:m[3]]
			provider := "aws"
			if input == "credentials_json" {
				provider = "gcp"
			}
			out = append(out, Finding{Rule: RuleStaticKeyInput, Path: name, Line: n, Column: column(line, m[2]), Provider: provider,
				Message: fmt.Sprintf("input %s takes a static key: federate with the job's OIDC identity (a chaperone %s scope) instead", input, provider)})
		}
	}
	return out
}

// classify says what a secret's name suggests it holds, and the provider
// that replaces it ("" what: not a credential worth reporting).
func classify(name string) (provider, what string) {
	u := strings.ToUpper(name)
	has := func(parts ...string) bool {
		for _, p := range parts {
			if strings.Contains(u, p) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(u, "CI_") || u == "GITHUB_TOKEN" || strings.HasPrefix(u, "ACTIONS_"):
		return "", "" // the CI's own, short-lived
	case has("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_KEY"):
		return "aws", "a static AWS access key"
	case has("GCP_SA_KEY", "GOOGLE_CREDENTIALS", "GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "SERVICE_ACCOUNT_KEY", "GCLOUD_KEY"):
		return "gcp", "a GCP service account key"
	case has("AZURE_CREDENTIALS", "AZURE_CLIENT_SECRET", "ARM_CLIENT_SECRET"):
		return "azure", "an Azure client secret"
	case has("VAULT_TOKEN"):
		return "vault", "a Vault token"
	case has("GITLAB") && has("_PAT", "TOKEN"):
		return "", "a GitLab access token"
	case u == "GH_PAT" || u == "GH_TOKEN" || has("PERSONAL_ACCESS_TOKEN", "GITHUB_PAT", "GH_PAT") ||
		strings.HasSuffix(u, "_PAT") && has("GITHUB", "GH_", "BOT", "DEPLOY", "RELEASE"):
		return "github", "a GitHub personal access token"
	case has("NPM_TOKEN", "NPM_AUTH_TOKEN"):
		return "", "an npm token"
	}
	return "", ""
}
