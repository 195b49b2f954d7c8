package agent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

const trustConfig = `version: 1
scopes:
  - name: deploy
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/ci/deploy
    region: eu-west-1
  - name: db
    provider: vault
    address: https://vault.example.com
    role: ci-deploy
    secrets:
      - {path: secret/data/ci/db, field: password, env: DB_PASSWORD}
      - {path: secret/data/ci/db, field: user, env: DB_USER}
      - {path: secret/data/ci/api, field: token, env: API_TOKEN}
  - name: gcloud
    provider: gcp
    workload-identity-provider: projects/42/locations/global/workloadIdentityPools/ci-pool/providers/github
    service-account: deploy@proj.iam.gserviceaccount.com
  - name: repo
    provider: github
    address: https://octo-sts.dev
    scope: acme/widgets
    identity: release
`

func renderOne(t *testing.T, target string, b provider.Binding) []provider.TrustDocument {
	t.Helper()
	cfg, err := ParseConfig([]byte(trustConfig), "trust.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderTrust(cfg, target, b)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d scopes rendered", target, len(out))
	}
	return out[0].Documents
}

func ghBinding(claims ...string) provider.Binding {
	b := provider.Binding{Platform: PlatformGitHub, Issuer: DefaultIssuer(PlatformGitHub), Claims: map[string]string{}}
	for i := 0; i+1 < len(claims); i += 2 {
		b.Claims[claims[i]] = claims[i+1]
	}
	return b
}

func TestRenderAWSTrustPolicy(t *testing.T) {
	var doc struct {
		Statement []struct {
			Principal struct{ Federated string }
			Action    string
			Condition map[string]map[string]string
		}
	}
	docs := renderOne(t, "aws", ghBinding("repository", "acme/widgets", "ref", "refs/heads/main"))
	if docs[0].Name != "deploy.trust-policy.json" || json.Unmarshal(docs[0].Content, &doc) != nil || len(doc.Statement) != 1 {
		t.Fatalf("%s:\n%s", docs[0].Name, docs[0].Content)
	}
	st := doc.Statement[0]
	eq := st.Condition["StringEquals"]
	if st.Principal.Federated != "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" || st.Action != "sts:AssumeRoleWithWebIdentity" ||
		eq["token.actions.githubusercontent.com:aud"] != "sts.amazonaws.com" || eq["token.actions.githubusercontent.com:sub"] != "repo:acme/widgets:ref:refs/heads/main" {
		t.Errorf("statement %+v", st)
	}
	// Only the repository: a pattern, with StringLike.
	doc.Statement = nil
	_ = json.Unmarshal(renderOne(t, "aws", ghBinding("repository", "acme/widgets"))[0].Content, &doc)
	if like := doc.Statement[0].Condition["StringLike"]; like["token.actions.githubusercontent.com:sub"] != "repo:acme/widgets:*" {
		t.Errorf("repository only: %+v", doc.Statement[0].Condition)
	}
	// GitLab's subject.
	doc.Statement = nil
	gl := provider.Binding{Platform: PlatformGitLab, Issuer: "https://gitlab.example.com", Claims: map[string]string{"project_path": "g/p", "ref": "main"}}
	_ = json.Unmarshal(renderOne(t, "aws", gl)[0].Content, &doc)
	if eq := doc.Statement[0].Condition["StringEquals"]; eq["gitlab.example.com:sub"] != "project_path:g/p:ref_type:branch:ref:main" {
		t.Errorf("gitlab: %+v", doc.Statement[0].Condition)
	}
}

func TestRenderVaultRole(t *testing.T) {
	docs := renderOne(t, "vault", ghBinding("repository", "acme/widgets"))
	var mount map[string]string
	var role map[string]any
	if len(docs) != 3 || json.Unmarshal(docs[0].Content, &mount) != nil || json.Unmarshal(docs[1].Content, &role) != nil {
		t.Fatalf("%d documents", len(docs))
	}
	if mount["bound_issuer"] != DefaultIssuer(PlatformGitHub) || docs[0].Name != "jwt.config.json" {
		t.Errorf("mount config %v", mount)
	}
	claims, _ := role["bound_claims"].(map[string]any)
	if role["token_type"] != "service" || role["role_type"] != "jwt" || claims["repository"] != "acme/widgets" ||
		role["bound_issuer"] != nil || docs[1].Name != "ci-deploy.role.json" {
		t.Errorf("role %v", role)
	}
	acl := string(docs[2].Content)
	if strings.Count(acl, `path "secret/data/ci/db"`) != 1 || !strings.Contains(acl, `path "secret/data/ci/api"`) || strings.Count(acl, "capabilities = [\"read\"]") != 2 {
		t.Errorf("policy:\n%s", acl)
	}
}

func TestRenderGCPProvider(t *testing.T) {
	docs := renderOne(t, "gcp", ghBinding("repository", "acme/it's", "ref", "refs/heads/main"))
	var prov struct {
		AttributeCondition string            `json:"attributeCondition"`
		AttributeMapping   map[string]string `json:"attributeMapping"`
		OIDC               struct {
			IssuerURI        string   `json:"issuerUri"`
			AllowedAudiences []string `json:"allowedAudiences"`
		} `json:"oidc"`
	}
	var binding map[string]string
	if len(docs) != 2 || json.Unmarshal(docs[0].Content, &prov) != nil || json.Unmarshal(docs[1].Content, &binding) != nil {
		t.Fatalf("documents: %d", len(docs))
	}
	if prov.AttributeCondition != `assertion.ref == 'refs/heads/main' && assertion.repository == 'acme/it\'s'` ||
		prov.AttributeMapping["attribute.repository"] != "assertion.repository" || prov.OIDC.IssuerURI != DefaultIssuer(PlatformGitHub) ||
		prov.OIDC.AllowedAudiences[0] != "https://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/ci-pool/providers/github" {
		t.Errorf("provider %+v", prov)
	}
	if binding["member"] != "principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/ci-pool/attribute.repository/acme/it's" ||
		binding["serviceAccount"] != "deploy@proj.iam.gserviceaccount.com" {
		t.Errorf("binding %v", binding)
	}
}

func TestRenderOctoSTSPolicy(t *testing.T) {
	docs := renderOne(t, "octo-sts", ghBinding("repository", "acme/widgets", "ref", "refs/heads/main", "job_workflow_ref", "acme/widgets/.github/workflows/release.yml@refs/heads/main"))
	var pol map[string]any
	if err := yaml.Unmarshal(docs[0].Content, &pol); err != nil || docs[0].Name != "release.sts.yaml" {
		t.Fatalf("%v:\n%s", err, docs[0].Content)
	}
	cp, _ := pol["claim_pattern"].(map[string]any)
	if pol["subject"] != "repo:acme/widgets:ref:refs/heads/main" || pol["issuer"] != DefaultIssuer(PlatformGitHub) || pol["audience"] != nil ||
		cp["job_workflow_ref"] != `acme/widgets/\.github/workflows/release\.yml@refs/heads/main` {
		t.Errorf("policy %v", pol)
	}
}

// Bindings that would admit more than the bound identity are refused.
func TestRenderTrustRefusesOpenPolicies(t *testing.T) {
	cfg, err := ParseConfig([]byte(trustConfig), "trust.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target string
		b      provider.Binding
		want   string
	}{
		{"aws", ghBinding("ref", "refs/heads/main"), "bind the repository"},
		{"aws", ghBinding("repository", "a/b", "workflow_ref", "x"), "claim workflow_ref cannot be bound"},
		{"vault", ghBinding(), "bind the repository"},
		{"vault", ghBinding("ref", "refs/heads/main"), "bind the repository"},
		{"gcp", ghBinding("ref", "refs/heads/main"), "bind the repository"},
		{"gcp", ghBinding("repository_id", "1", "Ref", "x"), "cannot be an attribute name"},
		{"aws", ghBinding("repository", "*"), "holds a wildcard"},
		{"aws", ghBinding("repository", "acme/widgets", "ref", "refs/heads/?ain"), "holds a wildcard"},
		{"octo-sts", ghBinding("ref", "x"), "bind the repository"},
		{"azure", ghBinding("repository", "a/b"), "not one of aws, gcp, vault, octo-sts"},
		{"aws", provider.Binding{Platform: PlatformGitHub, Issuer: "http://insecure", Claims: map[string]string{"repository": "a/b"}}, "not an https URL"},
	} {
		_, err := RenderTrust(cfg, c.target, c.b)
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.target, c.b.Claims, err, c.want)
		}
	}
}

// AWS evaluates GitHub's id claims and gitlab.com's as condition keys;
// a self-managed GitLab's tokens only on aud and sub.
func TestRenderAWSConditionKeys(t *testing.T) {
	var doc struct {
		Statement []struct{ Condition map[string]map[string]string }
	}
	_ = json.Unmarshal(renderOne(t, "aws", ghBinding("repository_id", "1", "ref", "refs/heads/main"))[0].Content, &doc)
	eq := doc.Statement[0].Condition["StringEquals"]
	if eq["token.actions.githubusercontent.com:repository_id"] != "1" || eq["token.actions.githubusercontent.com:ref"] != "refs/heads/main" || eq["token.actions.githubusercontent.com:sub"] != "" {
		t.Errorf("github ids: %v", doc.Statement[0].Condition)
	}
	doc.Statement = nil
	gl := provider.Binding{Platform: PlatformGitLab, Issuer: "https://gitlab.com", Claims: map[string]string{"project_id": "7", "ref_protected": "true"}}
	_ = json.Unmarshal(renderOne(t, "aws", gl)[0].Content, &doc)
	if eq := doc.Statement[0].Condition["StringEquals"]; eq["gitlab.com:project_id"] != "7" || eq["gitlab.com:ref_protected"] != "true" {
		t.Errorf("gitlab.com ids: %v", doc.Statement[0].Condition)
	}
	cfg, _ := ParseConfig([]byte(trustConfig), "trust.yml")
	gl.Issuer = "https://gitlab.example.com"
	if _, err := RenderTrust(cfg, "aws", gl); err == nil || !strings.Contains(err.Error(), "claim project_id cannot be bound") {
		t.Errorf("self-managed GitLab ids: %v", err)
	}
	// From the job's own token, the same binding falls back to the
	// project's path in the subject, and says so.
	gl.FromJob, gl.Job = true, map[string]string{"project_path": "g/p"}
	out, err := RenderTrust(cfg, "aws", gl)
	if err != nil {
		t.Fatal(err)
	}
	doc.Statement = nil
	_ = json.Unmarshal(out[0].Documents[0].Content, &doc)
	if like := doc.Statement[0].Condition["StringLike"]; like["gitlab.example.com:sub"] != "project_path:g/p:*" || len(out[0].Notes) != 3 {
		t.Errorf("fallback: %v, notes %q", doc.Statement[0].Condition, out[0].Notes)
	}
}

// A scope's narrowing shapes what render writes: the Vault role carries
// the scope's policies and lets the login token create the narrowed
// child; the octo-sts policy grants the scope's permissions, and an
// organisation policy its repositories.
func TestRenderNarrowedScopes(t *testing.T) {
	cfg, err := ParseConfig([]byte(`version: 1
scopes:
  - name: db
    provider: vault
    address: https://vault.example.com
    role: ci-deploy
    policies: [read-db]
    secrets: [{path: secret/data/ci/db, field: password, env: DB_PASSWORD}]
  - name: org
    provider: github
    address: https://octo-sts.dev
    scope: acme
    identity: release
    permissions: {contents: write, issues: read}
    repositories: [widgets]
`), "narrowed.yml")
	if err != nil {
		t.Fatal(err)
	}
	b := ghBinding("repository_id", "1")
	vault, err := RenderTrust(cfg, "vault", b)
	if err != nil {
		t.Fatal(err)
	}
	var role struct {
		TokenPolicies []string `json:"token_policies"`
	}
	_ = json.Unmarshal(vault[0].Documents[1].Content, &role)
	if strings.Join(role.TokenPolicies, ",") != "ci-deploy,read-db" || !strings.Contains(string(vault[0].Documents[2].Content), `path "auth/token/create"`) {
		t.Errorf("vault role %v, policy:\n%s", role.TokenPolicies, vault[0].Documents[2].Content)
	}
	octo, err := RenderTrust(cfg, "octo-sts", b)
	if err != nil {
		t.Fatal(err)
	}
	var pol struct {
		Permissions  map[string]string `yaml:"permissions"`
		Repositories []string          `yaml:"repositories"`
	}
	if err := yaml.Unmarshal(octo[0].Documents[0].Content, &pol); err != nil || pol.Permissions["contents"] != "write" || pol.Permissions["issues"] != "read" || len(pol.Permissions) != 2 || strings.Join(pol.Repositories, ",") != "widgets" {
		t.Errorf("octo-sts policy (%v):\n%s", err, octo[0].Documents[0].Content)
	}
}
