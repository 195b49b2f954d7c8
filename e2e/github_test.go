package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
)

// TestGitHubScopeRevokesAtTheAPI runs the README's github scope (address:
// the exchange, no api:) on a runner that sets GITHUB_API_URL, as GitHub
// Enterprise Server's do. The devstack's exchange, like octo-sts, serves
// only /sts/exchange, and its API is another host: the job succeeds and
// the token is revoked through the API, as the devstack's ledger shows.
func TestGitHubScopeRevokesAtTheAPI(t *testing.T) {
	ds := startDevstack(t, "github")
	if ds.env["GITHUB_API_URL"] != ds.env["CHAPERONE_DEVSTACK_GITHUB_API_URL"] || ds.env["GITHUB_API_URL"] == ds.env["CHAPERONE_DEVSTACK_GITHUB_STS_URL"] {
		t.Fatalf("devstack env: GITHUB_API_URL %q, API %q, exchange %q", ds.env["GITHUB_API_URL"], ds.env["CHAPERONE_DEVSTACK_GITHUB_API_URL"], ds.env["CHAPERONE_DEVSTACK_GITHUB_STS_URL"])
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "chaperone.yml")
	doc := fmt.Sprintf(`version: 1
identity: {source: auto}
scopes:
  - name: repo
    provider: github
    address: %s
    audience: chaperone-devstack
    scope: chaperone-ci/devstack-demo
    identity: ci
    env: GITHUB_TOKEN
    deliver: file
attest:
  signer: key:%s
  output: chaperone.sigstore.json
`, ds.env["CHAPERONE_DEVSTACK_GITHUB_STS_URL"], ds.env["CHAPERONE_DEVSTACK_SIGNING_KEY"])
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	r := chaperone(t, dir, ds.environ(), "run", "--config", cfg, "--", "sh", "-c", `test -s "$GITHUB_TOKEN" && echo "token file ok"`)
	if r.code != 0 || !strings.Contains(r.stdout, "token file ok") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var github []credential
	for _, c := range ds.credentials(t) {
		if c.Provider == "github" {
			github = append(github, c)
		}
	}
	if len(github) != 1 || !github[0].Revoked {
		t.Errorf("devstack ledger: github credentials %+v, want one, revoked", github)
	}
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	if len(pred.Grants) != 1 || pred.Grants[0].Revocation.Outcome != attest.RevocationRevoked {
		t.Errorf("attested grants %+v, want repo revoked", pred.Grants)
	}
}
