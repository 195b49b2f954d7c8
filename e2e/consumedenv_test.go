package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	standins "github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

// TestJobEnvironmentLacksConsumedVariables runs a GitLab-like job whose ID
// token is in CHAPERONE_ID_TOKEN, with a token-exchange scope whose client
// authenticates with a secret from TX_CLIENT_SECRET and which sends Dex's
// connector_id as a parameter, to a stand-in that requires it. The job
// prints its environment: neither variable is there (unless keep-env
// names one, and then its value is masked). The stand-in saw connector_id
// in the form body; the attested principal is the token URL without its
// query string, and the attestation holds no parameter.
//
// The devstack runs in this process, not as `chaperone devstack`: only so
// can the test know the client's secret and tell the stand-in what to
// require.
func TestJobEnvironmentLacksConsumedVariables(t *testing.T) {
	st := devstacktest.Start(t, standins.Options{Platform: standins.PlatformGitLab, Dir: t.TempDir()})
	st.RequireTokenExchangeParameter("connector_id", "ci")
	secret := st.TokenExchangeClientSecret()
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TX_CLIENT_SECRET=" + secret}, st.Env()...)
	idToken := ""
	for _, kv := range st.Env() {
		if v, ok := strings.CutPrefix(kv, "CHAPERONE_ID_TOKEN="); ok {
			idToken = v
		}
	}
	if idToken == "" {
		t.Fatal("the GitLab devstack's environment has no CHAPERONE_ID_TOKEN")
	}
	config := func(keep string) string {
		return fmt.Sprintf(`version: 1
identity: {source: auto}
scopes:
  - name: api
    provider: token-exchange
    token-url: "%s?realm=ci"
    revocation-url: %s
    audience: %s
    client-id: %s
    client-secret-env: TX_CLIENT_SECRET
    parameters: {connector_id: ci}
attest:
  signer: "key:%s"
  output: chaperone.sigstore.json
%s`, st.TokenExchangeURL, st.TokenRevocationURL, standins.Audience, standins.TokenExchangeClientID, st.SigningKeyPath, keep)
	}
	run := func(t *testing.T, keep string) (result, string) {
		t.Helper()
		dir := t.TempDir()
		cfg := filepath.Join(dir, "chaperone.yml")
		writeFile(t, cfg, config(keep))
		r := chaperone(t, dir, env, "run", "--config", cfg, "--", "sh", "-c", "env | sort")
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		assertNoSecrets(t, []string{secret, idToken}, r.stdout, r.stderr)
		return r, filepath.Join(dir, "chaperone.sigstore.json")
	}

	t.Run("by default", func(t *testing.T) {
		r, bundle := run(t, "")
		for _, gone := range []string{"CHAPERONE_ID_TOKEN=", "TX_CLIENT_SECRET="} {
			if strings.Contains(r.stdout, gone) {
				t.Errorf("the job's environment holds %s…:\n%s", gone, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "ACCESS_TOKEN=[MASKED]\n") || !strings.Contains(r.stdout, "CI_JOB_ID=") {
			t.Errorf("the job's environment lacks the delivered token or the CI's variables:\n%s", r.stdout)
		}
		reqs := st.TokenExchangeRequests()
		if len(reqs) == 0 || reqs[len(reqs)-1].Parameters.Get("connector_id") != "ci" {
			t.Errorf("the stand-in saw %+v, want connector_id=ci in the form", reqs)
		}
		pred := bundlePredicate(t, bundle)
		if len(pred.Grants) != 1 || pred.Grants[0].Principal != st.TokenExchangeURL || pred.Grants[0].Revocation.Outcome != attest.RevocationRevoked {
			t.Errorf("attested grants %+v, want one revoked grant for %s", pred.Grants, st.TokenExchangeURL)
		}
		all, _ := json.Marshal(pred)
		for _, never := range []string{"connector_id", "realm=ci"} {
			if strings.Contains(string(all), never) {
				t.Errorf("the attestation holds %q", never)
			}
		}
	})
	t.Run("kept", func(t *testing.T) {
		r, _ := run(t, "keep-env: [TX_CLIENT_SECRET]\n")
		if !strings.Contains(r.stdout, "TX_CLIENT_SECRET=[MASKED]\n") || strings.Contains(r.stdout, "CHAPERONE_ID_TOKEN=") {
			t.Errorf("keep-env: [TX_CLIENT_SECRET] gives the job:\n%s", r.stdout)
		}
	})
}
