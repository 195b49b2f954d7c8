package e2e

import (
	"crypto/sha256"
	"fmt"
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

	// An auditor checks the attestation against the owner's policy: the
	// grants must be ones it allows for the attested identity.
	bundle := filepath.Join(dir, "chaperone.sigstore.json")
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(pred.Job.RunURI)))
	verify := func(policyFile string) result {
		return chaperone(t, dir, ds.environ(), "verify", bundle, "--key", ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"], "--digest", digest, "--policy", policyFile)
	}
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
	before := len(ds.credentials(t))
	r = chaperone(t, dir, env, "run", "--", "true")
	assertOneLineError(t, r, 2, `line 4: unknown key "scop"`, secrets)
	if n := len(ds.credentials(t)); n != before {
		t.Errorf("a bad policy still issued %d credentials", n-before)
	}
}
