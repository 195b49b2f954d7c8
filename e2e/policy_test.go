package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The owner's policy, from CHAPERONE_POLICY, refuses the scopes it does
// not allow: the run fails before the command starts and before anything
// is issued, and the attestation records the refusals. Scopes marked
// optional are skipped instead: the job runs without them, and the
// attestation says why.
func TestRunWithOwnerPolicy(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	policy := filepath.Join(t.TempDir(), "owner-policy.yml")
	if err := os.WriteFile(policy, []byte(`version: 1
rules:
  - match: {repository: chaperone-ci/devstack-demo, ref: refs/heads/main}
    allow: [{provider: vault}, {scope: deploy, provider: aws, max-duration: 15m}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(ds.environ(), "CHAPERONE_POLICY="+policy)
	marker := filepath.Join(dir, "command-ran")
	before := len(ds.credentials(t)) // seededSecrets logged in to Vault
	r := chaperone(t, dir, env, "run", "--", "touch", marker)
	if r.code != 125 || !strings.Contains(r.stderr, `the owner's policy refuses scope "repo"`) {
		t.Fatalf("a refused scope: exit %d, want 125 naming it:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although the policy refused a scope")
	}
	if n := len(ds.credentials(t)) - before; n != 0 {
		t.Errorf("%d credentials issued before the refusal", n)
	}
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if len(pred.Refused) != 4 || len(pred.Grants) != 0 || pred.Outcome != "agent-error" {
		t.Errorf("refused %+v, grants %d, outcome %q", pred.Refused, len(pred.Grants), pred.Outcome)
	}

	// The same scopes marked optional: the job runs without them.
	cfg, err := os.ReadFile(ds.env["CHAPERONE_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	optional := string(cfg)
	for _, name := range []string{"repo", "gcloud", "api", "azure"} {
		optional = strings.Replace(optional, "  - name: "+name+"\n", "  - name: "+name+"\n    optional: true\n", 1)
	}
	optionalPath := filepath.Join(t.TempDir(), "optional.yml")
	if err := os.WriteFile(optionalPath, []byte(optional), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "CHAPERONE_CONFIG="+optionalPath)
	r = chaperone(t, dir, env, "run", "--", "sh", "-c", `echo "db=${DB_PASSWORD:+set} gh=${GITHUB_TOKEN:-unset}"`)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "db=set gh=unset" {
		t.Errorf("job saw %q, want the vault scope only", r.stdout)
	}
	if !strings.Contains(r.stderr, `scope repo refused (optional: the job runs without it): policy `+policy+`: no rule for this identity allows scope "repo"`) {
		t.Errorf("no refusal reported:\n%s", r.stderr)
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
	pred = bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	var refused []string
	for _, r := range pred.Refused {
		refused = append(refused, r.Scope)
	}
	if len(pred.Grants) != 2 || pred.Grants[0].Scope != "db" || pred.Grants[1].Scope != "deploy" || strings.Join(refused, ",") != "repo,gcloud,api,azure" {
		t.Errorf("grants %+v, refused %v", pred.Grants, refused)
	}

	// An auditor checks the attestation against the owner's policy: the
	// grants must be ones it allows for the attested identity.
	bundle := filepath.Join(dir, "chaperone.sigstore.json")
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(pred.Job.RunURI)))
	verify := func(policyFile string) result {
		return chaperone(t, dir, ds.environ(), "verify", bundle, "--key", ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"], "--digest", digest, "--policy", policyFile)
	}
	// The run's own policy passes, the 15-minute AWS grant included
	// (issued a moment after issuedAt was taken).
	if v := verify(policy); v.code != 0 || !strings.Contains(v.stderr, "ownerPolicy") {
		t.Errorf("verify --policy (the run's own policy): exit %d\n%s", v.code, v.stderr)
	}
	stricter := filepath.Join(t.TempDir(), "stricter.yml")
	if err := os.WriteFile(stricter, []byte("version: 1\nrules:\n  - match: {repository: chaperone-ci/devstack-demo}\n    allow: [{provider: vault, principal: admin}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := verify(stricter); v.code != 1 || !strings.Contains(v.stderr, `grants[0] (scope "db", provider vault, principal ci): policy `+stricter+`: no rule for this identity allows scope "db"`) {
		t.Errorf("verify --policy (stricter): exit %d\n%s", v.code, v.stderr)
	}

	// A policy that does not parse stops the job before anything is issued.
	if err := os.WriteFile(policy, []byte("version: 1\nrules:\n  - match: {repository: x}\n    allow: [{scop: db}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before = len(ds.credentials(t))
	r = chaperone(t, dir, env, "run", "--", "true")
	assertOneLineError(t, r, 2, `line 4: unknown key "scop"`, secrets)
	if n := len(ds.credentials(t)); n != before {
		t.Errorf("a bad policy still issued %d credentials", n-before)
	}
}

// policy check says, for this job's identity, which scopes the policy
// allows, without issuing any.
func TestPolicyCheck(t *testing.T) {
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	policy := filepath.Join(dir, "owner.yml")
	write := func(doc string) {
		if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 1\nrules:\n  - match: {repository: chaperone-ci/devstack-demo}\n    allow: [{provider: vault}, {scope: deploy, max-duration: 10m}]\n")
	r := chaperone(t, dir, ds.environ(), "policy", "check", "--policy", policy, "--format", "json")
	var out struct {
		Allowed bool `json:"allowed"`
		Scopes  []struct {
			Scope   string `json:"scope"`
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		} `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("policy check printed no JSON (%v), exit %d:\n%s%s", err, r.code, r.stdout, r.stderr)
	}
	verdicts := map[string]string{}
	for _, s := range out.Scopes {
		verdicts[s.Scope] = fmt.Sprint(s.Allowed)
		if !s.Allowed {
			verdicts[s.Scope] = s.Reason
		}
	}
	if r.code != 1 || out.Allowed || verdicts["db"] != "true" || !strings.Contains(verdicts["deploy"], "asks for 15m0s, more than max-duration 10m0s") || len(out.Scopes) != 6 {
		t.Errorf("exit %d, verdicts %v", r.code, verdicts)
	}
	if n := len(ds.credentials(t)); n != 0 {
		t.Errorf("policy check issued %d credentials", n)
	}
	if r := chaperone(t, dir, ds.environ(), "policy", "check", "--policy", policy); r.code != 1 || !strings.Contains(r.stdout, "refused (the run would fail)") {
		t.Errorf("text verdicts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	write("version: 1\nrules:\n  - match: {repository: chaperone-ci/devstack-demo}\n    allow: [{principal: \".*\"}]\n")
	if r := chaperone(t, dir, ds.environ(), "policy", "check", "--policy", policy); r.code != 0 || strings.Count(r.stdout, "allowed") != 6 {
		t.Errorf("all allowed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// policy render writes the issuer's side from the config alone.
func TestPolicyRender(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ci.yml")
	if err := os.WriteFile(cfg, []byte("version: 1\nscopes:\n  - {name: deploy, provider: aws, role-arn: 'arn:aws:iam::123456789012:role/deploy', region: eu-west-1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := chaperone(t, dir, nil, "policy", "render", "--config", cfg, "--target", "aws", "--bind", "repository=acme/widgets", "--bind", "environment=prod", "--format", "json")
	var out []struct {
		Scope     string `json:"scope"`
		Documents []struct {
			Name    string `json:"name"`
			Content string `json:"content"`
		} `json:"documents"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out) != 1 || len(out[0].Documents) != 1 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if doc := out[0].Documents[0]; doc.Name != "deploy.trust-policy.json" || !strings.Contains(doc.Content, `"token.actions.githubusercontent.com:sub": "repo:acme/widgets:environment:prod"`) {
		t.Errorf("%s:\n%s", doc.Name, doc.Content)
	}
	r = chaperone(t, dir, nil, "policy", "render", "--config", cfg, "--target", "aws", "--bind", "ref")
	assertOneLineError(t, r, 2, `--bind "ref" is not CLAIM=VALUE`, nil)
	r = chaperone(t, dir, nil, "policy", "render", "--config", cfg, "--target", "vault", "--bind", "repository=a/b")
	assertOneLineError(t, r, 2, "the config has no vault scope for target vault", nil)
}
