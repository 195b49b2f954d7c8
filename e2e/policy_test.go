package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The owner's policy, from CHAPERONE_POLICY, refuses the scopes it does not
// allow: the job runs without them, and the attestation says why.
func TestRunWithOwnerPolicy(t *testing.T) {
	ds := startDevstack(t, "github")
	secrets := ds.seededSecrets(t)
	dir := t.TempDir()
	policy := filepath.Join(t.TempDir(), "owner-policy.yml")
	if err := os.WriteFile(policy, []byte(`version: 1
rules:
  - match: {repository: chaperone-ci/devstack-demo, ref: refs/heads/main}
    allow: [{provider: vault}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(ds.environ(), "CHAPERONE_POLICY="+policy)
	r := chaperone(t, dir, env, "run", "--", "sh", "-c", `echo "db=${DB_PASSWORD:+set} gh=${GITHUB_TOKEN:-unset}"`)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "db=set gh=unset" {
		t.Errorf("job saw %q, want the vault scope only", r.stdout)
	}
	if !strings.Contains(r.stderr, `scope repo refused: policy `+policy+`: no rule for this identity allows scope "repo"`) {
		t.Errorf("no refusal reported:\n%s", r.stderr)
	}
	assertNoSecrets(t, secrets, r.stdout, r.stderr)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	var refused []string
	for _, r := range pred.Refused {
		refused = append(refused, r.Scope)
	}
	if len(pred.Grants) != 1 || pred.Grants[0].Scope != "db" || strings.Join(refused, ",") != "repo,deploy,gcloud,api,azure" {
		t.Errorf("grants %+v, refused %v", pred.Grants, refused)
	}

	// A policy that does not parse stops the job before anything is issued.
	if err := os.WriteFile(policy, []byte("version: 1\nrules:\n  - match: {repository: x}\n    allow: [{scop: db}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(ds.credentials(t))
	r = chaperone(t, dir, env, "run", "--", "true")
	assertOneLineError(t, r, 2, `line 4: unknown key "scop"`, secrets)
	if n := len(ds.credentials(t)); n != before {
		t.Errorf("a bad policy still issued %d credentials", n-before)
	}
}
