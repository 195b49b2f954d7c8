package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
)

// buildJob compiles one of the e2e/jobs programs.
func buildJob(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if b, err := exec.Command("go", "build", "-o", out, "./jobs/"+name).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

// TestEndpointServesCloudSDKs runs jobs written against the stock AWS SDK
// (no static keys) and Google's metadata client, for three times the
// credential lifetime, with every cloud credential served by the endpoint.
func TestEndpointServesCloudSDKs(t *testing.T) {
	awsJob, gceJob := buildJob(t, "awsjob"), buildJob(t, "gcejob")
	ds := startDevstack(t, "github", "--credential-ttl", "3s")
	cfg := editedConfig(t, ds, "    duration: 15m\n", "    duration: 15m\n    deliver: endpoint\n")
	data := strings.Replace(readFile(t, cfg), "    lifetime: 15m\n", "    lifetime: 15m\n    deliver: endpoint\n", 1)
	writeFile(t, cfg, data)
	dir := t.TempDir()
	script := `set -e
test -z "$AWS_ACCESS_KEY_ID" && echo "no static AWS keys"
test -z "$GOOGLE_OAUTH_ACCESS_TOKEN" && echo "no GCP token in env"
"$AWS_JOB" -for 9s -every 1s
"$GCE_JOB"`
	env := append(ds.environ(), "AWS_JOB="+awsJob, "GCE_JOB="+gceJob, "AWS_ACCESS_KEY_ID=AKIASTATICKEYSHADOW1", "AWS_SECRET_ACCESS_KEY=static-secret")
	r := chaperone(t, dir, env, "run", "--config", cfg, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	calls := strings.Count(r.stdout, "caller arn:aws:sts::123456789012:assumed-role/chaperone-devstack/")
	if calls < 9 {
		t.Errorf("%d successful GetCallerIdentity calls over 9s, want ≥ 9:\n%s", calls, r.stdout)
	}
	for _, want := range []string{"no static AWS keys", "no GCP token in env", "email chaperone-devstack@chaperone-devstack.iam.gserviceaccount.com token expires_in>0 true tokeninfo 200"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("job output lacks %q:\n%s", want, r.stdout)
		}
	}
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	for _, g := range pred.Grants {
		switch g.Scope {
		case "deploy":
			if g.Delivery != "endpoint" || len(g.Refreshes) < 2 {
				t.Errorf("deploy: delivery %s, %d refreshes; want endpoint with ≥ 2 over three lifetimes", g.Delivery, len(g.Refreshes))
			}
			for _, r := range append(g.Refreshes, attest.Refresh{ExpiresAt: g.ExpiresAt, IssuedAt: g.IssuedAt}) {
				if r.ExpiresAt.Sub(r.IssuedAt).Seconds() > 4 {
					t.Errorf("credential lived %v, the stand-in caps it at 3s", r.ExpiresAt.Sub(r.IssuedAt))
				}
			}
			if g.Revocation.Outcome != attest.RevocationExpiry || g.Revocation.ExpiresAt == nil {
				t.Errorf("deploy revocation %+v, want expiry with a bound", g.Revocation)
			}
			awsFetches := 0
			for _, f := range g.Fetches {
				if f.Protocol == "aws" && strings.HasSuffix(f.Executable, "awsjob") {
					awsFetches++
				}
			}
			if awsFetches < 3 {
				t.Errorf("usage record shows %d aws fetches by awsjob", awsFetches)
			}
		case "gcloud":
			if len(g.Fetches) == 0 || g.Fetches[0].Protocol != "gce" || !strings.HasSuffix(g.Fetches[0].Executable, "gcejob") {
				t.Errorf("gcloud usage record %+v", g.Fetches)
			}
		}
	}
}
