package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// fakeSource hands out fixed grants per scope and counts reads.
type fakeSource struct {
	mu     sync.Mutex
	grants map[string]*provider.Grant
}

func (f *fakeSource) get(_ context.Context, scope string) (*provider.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.grants[scope]
	if !ok {
		return nil, errors.New("no such scope")
	}
	return g, nil
}

func startTestEndpoint(t *testing.T) (*Endpoint, *[]Fetch) {
	t.Helper()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	src := &fakeSource{grants: map[string]*provider.Grant{
		"deploy": {ExpiresAt: exp, Values: []provider.Value{
			{Name: "A", Secret: "ASIAEXAMPLE", Kind: provider.KindAWSAccessKeyID},
			{Name: "B", Secret: "secret-key", Kind: provider.KindAWSSecretAccessKey},
			{Name: "C", Secret: "session", Kind: provider.KindAWSSessionToken}}},
		"gcp":  {ExpiresAt: exp, Values: []provider.Value{{Name: "T", Secret: "ya29.token", Kind: provider.KindAccessToken}}},
		"repo": {ExpiresAt: exp, Values: []provider.Value{{Name: "G", Secret: "ghs_token", Kind: provider.KindGitHubToken}}},
	}}
	var mu sync.Mutex
	var fetches []Fetch
	ep, err := Start(Options{
		Routes: []Route{
			{Scope: "deploy", Provider: "aws"},
			{Scope: "gcp", Provider: "gcp", ServiceAccount: "ci@p.iam.gserviceaccount.com", Project: "p"},
			{Scope: "repo", Provider: "github", Registries: []string{"ghcr.io"}, GitHosts: []string{"github.com"}},
		},
		Source:     src.get,
		OnFetch:    func(f Fetch) { mu.Lock(); fetches = append(fetches, f); mu.Unlock() },
		Dir:        t.TempDir(),
		Executable: "/bin/true",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep, &fetches
}

func get(t *testing.T, url string, h map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), resp.Header
}

func TestAWSContainerCredentials(t *testing.T) {
	ep, fetches := startTestEndpoint(t)
	url := ep.URL + "/aws/deploy"
	if code, _, _ := get(t, url, nil); code != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d", code)
	}
	if code, _, _ := get(t, url, map[string]string{"Authorization": "Bearer " + ep.Token()}); code != http.StatusUnauthorized {
		t.Errorf("token with a scheme (the SDK sends it verbatim): HTTP %d", code)
	}
	code, body, _ := get(t, url, map[string]string{"Authorization": ep.Token()})
	var c struct{ AccessKeyId, SecretAccessKey, Token, Expiration string }
	if code != 200 || json.Unmarshal(body, &c) != nil || c.AccessKeyId != "ASIAEXAMPLE" || c.Token != "session" || c.Expiration == "" {
		t.Fatalf("HTTP %d %s", code, body)
	}
	if code, _, _ := get(t, ep.URL+"/aws/gcp", map[string]string{"Authorization": ep.Token()}); code != http.StatusNotFound {
		t.Errorf("non-aws scope served as aws: %d", code)
	}
	if len(*fetches) != 1 || (*fetches)[0].Protocol != "aws" || (*fetches)[0].PID != os.Getpid() {
		t.Errorf("fetches = %+v, want one aws fetch by this process (pid %d)", *fetches, os.Getpid())
	}
	env := strings.Join(ep.Env(), "\n")
	if !strings.Contains(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+url) || !strings.Contains(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN="+ep.Token()) {
		t.Errorf("env lacks the AWS variables:\n%s", env)
	}
}

func TestGCEMetadata(t *testing.T) {
	ep, _ := startTestEndpoint(t)
	base := ep.URL + "/computeMetadata/v1/"
	if code, _, _ := get(t, base+"instance/service-accounts/default/token", nil); code != http.StatusForbidden {
		t.Errorf("without Metadata-Flavor: HTTP %d", code)
	}
	flavor := map[string]string{"Metadata-Flavor": "Google"}
	code, body, h := get(t, base+"instance/service-accounts/default/token", flavor)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if code != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken != "ya29.token" || tok.ExpiresIn < 3500 || h.Get("Metadata-Flavor") != "Google" {
		t.Fatalf("token: HTTP %d %s", code, body)
	}
	if _, body, _ := get(t, base+"instance/service-accounts/default/email", flavor); string(body) != "ci@p.iam.gserviceaccount.com" {
		t.Errorf("email %q", body)
	}
	if _, body, _ := get(t, base+"project/project-id", flavor); string(body) != "p" {
		t.Errorf("project %q", body)
	}
	if code, _, _ := get(t, base+"instance/attributes/ssh-keys", flavor); code != http.StatusNotFound {
		t.Errorf("undefined key: HTTP %d", code)
	}
}

func TestHelpersAgainstEndpoint(t *testing.T) {
	ep, fetches := startTestEndpoint(t)
	env := map[string]string{}
	for _, kv := range ep.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }

	var out, errb bytes.Buffer
	if code := RunGitHelper([]string{"get"}, strings.NewReader("protocol=https\nhost=github.com\npath=o/r.git\n\n"), &out, &errb, getenv); code != 0 {
		t.Fatalf("git helper exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "username=x-access-token\npassword=ghs_token\npassword_expiry_utc=") {
		t.Errorf("git helper output %q", out.String())
	}
	out.Reset()
	if code := RunGitHelper([]string{"get"}, strings.NewReader("protocol=https\nhost=gitlab.com\n\n"), &out, &errb, getenv); code != 0 || out.Len() != 0 {
		t.Errorf("unknown git host: exit %d output %q (want silence so git falls through)", code, out.String())
	}
	out.Reset()
	if code := RunDockerHelper([]string{"get"}, strings.NewReader("https://ghcr.io\n"), &out, &errb, getenv); code != 0 {
		t.Fatalf("docker helper exit %d: %s", code, errb.String())
	}
	var d struct{ ServerURL, Username, Secret string }
	if json.Unmarshal(out.Bytes(), &d) != nil || d.Secret != "ghs_token" || d.ServerURL != "https://ghcr.io" {
		t.Errorf("docker helper output %q", out.String())
	}
	out.Reset()
	if code := RunDockerHelper([]string{"get"}, strings.NewReader("quay.io"), &out, &errb, getenv); code != 1 || !strings.Contains(out.String(), "credentials not found") {
		t.Errorf("unknown registry: exit %d output %q", code, out.String())
	}
	cfg, err := os.ReadFile(filepath.Join(env["DOCKER_CONFIG"], "config.json"))
	if err != nil || !strings.Contains(string(cfg), `"ghcr.io":"chaperone"`) {
		t.Errorf("docker config %s: %v", cfg, err)
	}
	if len(*fetches) != 2 {
		t.Errorf("fetches = %d, want 2 (git, docker)", len(*fetches))
	}
	// Without the endpoint's variables the helpers fail clearly.
	errb.Reset()
	if code := RunGitHelper([]string{"get"}, strings.NewReader("host=github.com\n\n"), &out, &errb, func(string) string { return "" }); code != 1 || !strings.Contains(errb.String(), "CHAPERONE_ENDPOINT is not set") {
		t.Errorf("helper outside a job: exit %d %q", code, errb.String())
	}
	// After Close the endpoint refuses connections.
	_ = ep.Close()
	if code := RunGitHelper([]string{"get"}, strings.NewReader("host=github.com\n\n"), &out, &errb, getenv); code != 1 {
		t.Errorf("helper after Close: exit %d", code)
	}
}

func TestStartRefusesTwoAWSScopes(t *testing.T) {
	_, err := Start(Options{Routes: []Route{{Scope: "a", Provider: "aws"}, {Scope: "b", Provider: "aws"}},
		Source: (&fakeSource{}).get, Dir: t.TempDir(), Executable: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "only one aws scope") {
		t.Errorf("err = %v", err)
	}
}
