package e2e

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEndpointGitAndDockerHelpers serves the GitHub token only through the
// loopback endpoint and uses it with stock git and the docker credential
// helper protocol.
func TestEndpointGitAndDockerHelpers(t *testing.T) {
	ds := startDevstack(t, "github")
	cfg := editedConfig(t, ds, "    env: GITHUB_TOKEN\n", "    env: GITHUB_TOKEN\n    deliver: endpoint\n")
	dir := t.TempDir()
	script := `
set -e
echo "endpoint=$CHAPERONE_ENDPOINT"
test -z "$GITHUB_TOKEN" && echo "no GITHUB_TOKEN in env"
tok=$(printf 'protocol=https\nhost=github.com\n\n' | git credential fill | sed -n 's/^password=//p')
echo "git status $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$CHAPERONE_DEVSTACK_GITHUB_API_URL/installation/repositories")"
echo ghcr.io | docker-credential-chaperone get > docker.json
sec=$(sed -n 's/.*"Secret":"\([^"]*\)".*/\1/p' docker.json)
echo "docker status $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $sec" "$CHAPERONE_DEVSTACK_GITHUB_API_URL/installation/repositories")"
echo "docker user $(sed -n 's/.*"Username":"\([^"]*\)".*/\1/p' docker.json)"
echo quay.io | docker-credential-chaperone get || echo "unknown registry refused"
`
	r := chaperone(t, dir, ds.environ(), "run", "--config", cfg, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"no GITHUB_TOKEN in env", "git status 200", "docker status 200", "docker user x-access-token", "credentials not found in native keychain", "unknown registry refused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("job output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "ghs_") {
		t.Errorf("a GitHub token reached the log")
	}
	// The endpoint is gone with the job.
	m := regexp.MustCompile(`endpoint=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("job did not print the endpoint:\n%s", r.stdout)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(m[1] + "/git?host=github.com"); err == nil {
		resp.Body.Close()
		t.Errorf("endpoint still answers after the job: HTTP %d", resp.StatusCode)
	}
	assertRevoked(t, ds, 0)
	pred := bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
	var fetches []string
	for _, g := range pred.Grants {
		if g.Scope != "repo" {
			continue
		}
		if g.Delivery != "endpoint" {
			t.Errorf("repo delivery %q", g.Delivery)
		}
		for _, f := range g.Fetches {
			fetches = append(fetches, f.Protocol)
			if f.PID == 0 || !strings.Contains(f.Executable, "chaperone") {
				t.Errorf("fetch %s without its client process: pid %d exe %q", f.Protocol, f.PID, f.Executable)
			}
		}
	}
	if strings.Join(fetches, ",") != "git,docker" {
		t.Errorf("usage record = %v, want git then docker", fetches)
	}
}
