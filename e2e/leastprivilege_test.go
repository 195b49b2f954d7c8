package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// renderedScope is one scope of `policy render --format json`.
type renderedScope struct {
	Scope     string `json:"scope"`
	Documents []struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	} `json:"documents"`
	Notes []string `json:"notes"`
}

// render runs `policy render --target T --format json` in the devstack
// job, with no flag binding anything.
func render(t *testing.T, ds *devstack, dir, target string, extra ...string) ([]renderedScope, result) {
	t.Helper()
	r := chaperone(t, dir, ds.environ(), append([]string{"policy", "render", "--target", target, "--format", "json"}, extra...)...)
	var out []renderedScope
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out) != 1 {
		t.Fatalf("render --target %s: exit %d:\n%s%s", target, r.code, r.stdout, r.stderr)
	}
	return out, r
}

// Inside a devstack job, `policy render` with no flags binds each
// target's documents to the job's repository_id (parsed here), warns
// when a user binds a name instead, and the Vault role and octo-sts
// policy it prints load into the stand-ins and admit the job.
func TestPolicyRenderFromJob(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	repoID := ds.env["GITHUB_REPOSITORY_ID"]
	issuerHost := strings.TrimPrefix(ds.env["CHAPERONE_DEVSTACK_ISSUER"], "http://")

	out, r := render(t, ds, dir, "aws")
	var trust struct {
		Statement []struct{ Condition map[string]map[string]string }
	}
	if err := json.Unmarshal([]byte(out[0].Documents[0].Content), &trust); err != nil || trust.Statement[0].Condition["StringEquals"][issuerHost+":repository_id"] != repoID {
		t.Errorf("aws trust policy (%v):\n%s", err, out[0].Documents[0].Content)
	}
	if !strings.Contains(r.stderr, "note: scope deploy: AWS cannot condition on repository_owner_id") {
		t.Errorf("no note on what AWS cannot bind:\n%s", r.stderr)
	}

	out, _ = render(t, ds, dir, "gcp")
	var prov struct {
		AttributeCondition string `json:"attributeCondition"`
	}
	if err := json.Unmarshal([]byte(out[0].Documents[0].Content), &prov); err != nil || !strings.Contains(prov.AttributeCondition, "assertion.repository_id == '"+repoID+"'") {
		t.Errorf("gcp provider (%v):\n%s", err, out[0].Documents[0].Content)
	}

	vault, _ := render(t, ds, dir, "vault")
	var role struct {
		BoundClaims map[string]string `json:"bound_claims"`
	}
	if err := json.Unmarshal([]byte(vault[0].Documents[1].Content), &role); err != nil || role.BoundClaims["repository_id"] != repoID {
		t.Errorf("vault role (%v):\n%s", err, vault[0].Documents[1].Content)
	}

	octo, _ := render(t, ds, dir, "octo-sts")
	var pol struct {
		ClaimPattern map[string]string `yaml:"claim_pattern"`
	}
	if err := yaml.Unmarshal([]byte(octo[0].Documents[0].Content), &pol); err != nil || pol.ClaimPattern["repository_id"] != repoID {
		t.Errorf("octo-sts policy (%v):\n%s", err, octo[0].Documents[0].Content)
	}

	// A user who binds a name is warned.
	r = chaperone(t, dir, ds.environ(), "policy", "render", "--target", "vault", "--bind", "repository=chaperone-ci/devstack-demo")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: --bind repository=chaperone-ci/devstack-demo binds a name") {
		t.Errorf("no warning for a name binding: exit %d\n%s", r.code, r.stderr)
	}

	// A token saved from another job renders for that job.
	tokenFile := filepath.Join(dir, "other-job.jwt")
	var minted struct {
		Value string `json:"value"`
	}
	postJSON(t, ds.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/token?platform=gitlab&aud=chaperone-devstack", nil, &minted)
	if err := os.WriteFile(tokenFile, []byte(minted.Value), 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := render(t, ds, dir, "vault", "--token-file", tokenFile)
	role.BoundClaims = nil
	if err := json.Unmarshal([]byte(other[0].Documents[1].Content), &role); err != nil || role.BoundClaims["project_id"] == "" || role.BoundClaims["repository_id"] != "" || role.BoundClaims["ref_protected"] != "true" {
		t.Errorf("vault role for the saved GitLab token (%v):\n%s", err, other[0].Documents[1].Content)
	}

	// Round trip: the Vault role and policy load through Vault's API, as
	// `vault write` and `vault policy write` send them, and the job's
	// token logs in.
	vaultAddr, root := ds.env["CHAPERONE_DEVSTACK_VAULT_ADDR"], ds.env["CHAPERONE_DEVSTACK_VAULT_TOKEN"]
	put := func(u string, body []byte, header http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT %s: %d", u, resp.StatusCode)
		}
	}
	auth := http.Header{"X-Vault-Token": {root}}
	put(vaultAddr+"/v1/auth/jwt/config", []byte(vault[0].Documents[0].Content), auth)
	put(vaultAddr+"/v1/auth/jwt/role/ci", []byte(vault[0].Documents[1].Content), auth)
	acl, _ := json.Marshal(map[string]string{"policy": vault[0].Documents[2].Content})
	put(vaultAddr+"/v1/sys/policies/acl/ci", acl, auth)
	q := url.Values{"scope": {"chaperone-ci/devstack-demo"}, "identity": {"ci"}}
	put(ds.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/octo-sts/trust-policy?"+q.Encode(), []byte(octo[0].Documents[0].Content), nil)

	// The job runs under what it rendered: the Vault and GitHub scopes
	// issue, and the other scopes (unchanged) too.
	r = chaperone(t, dir, ds.environ(), "run", "--", "sh", "-c", `test -n "$DB_PASSWORD" && test -n "$GITHUB_TOKEN" && echo issued`)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "issued" {
		t.Errorf("a run under the rendered trust: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A token of another job (GitLab's, no repository_id) is refused by both.
	body, _ := json.Marshal(map[string]string{"role": "ci", "jwt": minted.Value})
	resp, err := http.Post(vaultAddr+"/v1/auth/jwt/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("vault admitted another job's token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, ds.env["CHAPERONE_DEVSTACK_GITHUB_STS_URL"]+"/sts/exchange?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+minted.Value)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("octo-sts admitted another job's token: %d", resp.StatusCode)
	}
}

// Narrowed grants, end to end: an AWS scope's inline session policy
// reaches STS (the stand-in records it) and the attestation; a Vault scope
// with policies: [read-db] gets a token with exactly that policy; a
// GitHub scope asking contents: write where its trust policy allows read
// fails the run with the exchange's reason, before the command runs.
func TestNarrowedGrants(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	cfg, err := os.ReadFile(ds.env["CHAPERONE_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::releases/*"}]}`
	text := strings.NewReplacer(
		"    role: ci\n", "    role: ci\n    policies: [read-db]\n    token-env: VAULT_TOKEN\n",
		"      - {path: secret/data/ci/api, field: token, env: API_TOKEN}\n", "",
		"    duration: 15m\n", "    duration: 15m\n    inline-session-policy: '"+policy+"'\n",
		"    identity: ci\n", "    identity: ci\n    permissions: {contents: read}\n",
	).Replace(string(cfg))
	path := filepath.Join(dir, "narrowed.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(ds.environ(), "CHAPERONE_CONFIG="+path)
	lookup := `curl -sf -H "X-Vault-Token: $VAULT_TOKEN" "$CHAPERONE_DEVSTACK_VAULT_ADDR/v1/auth/token/lookup-self" >/dev/null && echo lookup-allowed || echo lookup-denied`
	r := chaperone(t, dir, env, "run", "--", "sh", "-c", lookup)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Exactly read-db: not even the default policy's lookup-self.
	if strings.TrimSpace(r.stdout) != "lookup-denied" {
		t.Errorf("the read-db token: %q", r.stdout)
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	for _, g := range pred.Grants {
		var got string
		if g.Restrictions != nil {
			got = strings.Join(g.Restrictions.Policies, ",") + g.Restrictions.SessionPolicy + g.Restrictions.Permissions["contents"]
		}
		if want := map[string]string{"db": "read-db", "deploy": policy, "repo": "read"}[g.Scope]; want != "" && got != want {
			t.Errorf("grant %s: restrictions %q, want %q", g.Scope, got, want)
		}
	}
	var ledger struct {
		Credentials []struct {
			Provider     string         `json:"provider"`
			Restrictions map[string]any `json:"restrictions"`
		} `json:"credentials"`
	}
	getJSON(t, ds.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/credentials", nil, &ledger)
	var stsPolicy any
	for _, c := range ledger.Credentials {
		if c.Provider == "aws" {
			stsPolicy = c.Restrictions["policy"]
		}
	}
	if stsPolicy != policy {
		t.Errorf("STS recorded session policy %v, want the scope's", stsPolicy)
	}

	// More than the trust policy allows: refused with the exchange's reason.
	if err := os.WriteFile(path, []byte(strings.Replace(text, "permissions: {contents: read}", "permissions: {contents: write}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "ran")
	r = chaperone(t, dir, env, "run", "--", "touch", marker)
	if r.code != 125 || !strings.Contains(r.stderr, `trust policy: permission "contents: write" exceeds "contents: read", which the trust policy grants`) {
		t.Errorf("contents: write: exit %d, want 125 with the exchange's reason:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran without its GitHub scope")
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
}
