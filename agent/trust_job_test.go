package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// renderFromJob renders target's documents for the devstack job's own
// token, as `policy render` does without --bind.
func renderFromJob(t *testing.T, st *devstack.Stack, target string) RenderedTrust {
	t.Helper()
	s, _ := newTestSession(t, st)
	b, err := s.JobBinding(context.Background(), target, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := RenderTrust(s.cfg, target, b)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d scopes", target, len(out))
	}
	return out[0]
}

func jobClaim(t *testing.T, st *devstack.Stack, name string) string {
	t.Helper()
	tok, err := st.MintToken("", devstack.Audience)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.stringClaims()[name]
}

// Without --bind, each target's documents bind the job's immutable ids,
// and say what a target cannot condition on.
func TestRenderFromJobIdentity(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	repoID, ownerID, workflow := jobClaim(t, st, "repository_id"), jobClaim(t, st, "repository_owner_id"), jobClaim(t, st, "job_workflow_ref")
	host := strings.TrimPrefix(st.IssuerURL, "http://")

	aws := renderFromJob(t, st, "aws")
	var trust struct {
		Statement []struct {
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal(aws.Documents[0].Content, &trust); err != nil {
		t.Fatal(err)
	}
	eq := trust.Statement[0].Condition["StringEquals"]
	if eq[host+":repository_id"] != repoID || eq[host+":job_workflow_ref"] != workflow || eq[host+":aud"] != devstack.Audience || len(eq) != 3 {
		t.Errorf("aws conditions: %v", trust.Statement[0].Condition)
	}
	if len(aws.Notes) != 1 || !strings.Contains(aws.Notes[0], "AWS cannot condition on repository_owner_id") {
		t.Errorf("aws notes: %q", aws.Notes)
	}

	gcp := renderFromJob(t, st, "gcp")
	var prov struct {
		AttributeCondition string `json:"attributeCondition"`
	}
	if err := json.Unmarshal(gcp.Documents[0].Content, &prov); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prov.AttributeCondition, "assertion.repository_id == '"+repoID+"'") || !strings.Contains(prov.AttributeCondition, "assertion.repository_owner_id == '"+ownerID+"'") {
		t.Errorf("gcp condition: %s", prov.AttributeCondition)
	}
	if !strings.Contains(string(gcp.Documents[1].Content), "attribute.repository_id/"+repoID) {
		t.Errorf("gcp binding:\n%s", gcp.Documents[1].Content)
	}

	vault := renderFromJob(t, st, "vault")
	var role struct {
		BoundClaims map[string]string `json:"bound_claims"`
	}
	if err := json.Unmarshal(vault.Documents[1].Content, &role); err != nil {
		t.Fatal(err)
	}
	if role.BoundClaims["repository_id"] != repoID || role.BoundClaims["repository_owner_id"] != ownerID || len(role.BoundClaims) != 3 {
		t.Errorf("vault bound claims: %v", role.BoundClaims)
	}

	octo := renderFromJob(t, st, "octo-sts")
	var pol struct {
		SubjectPattern string            `yaml:"subject_pattern"`
		ClaimPattern   map[string]string `yaml:"claim_pattern"`
	}
	if err := yaml.Unmarshal(octo.Documents[0].Content, &pol); err != nil {
		t.Fatal(err)
	}
	if pol.ClaimPattern["repository_id"] != repoID || pol.SubjectPattern != ".+" {
		t.Errorf("octo-sts policy:\n%s", octo.Documents[0].Content)
	}
}

// A token saved from another job is rendered for that job; a token with
// no repository or project id is refused.
func TestRenderFromTokenFile(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	s, _ := newTestSession(t, st)
	dir := t.TempDir()
	other, err := st.MintTokenWith(devstack.TokenRequest{Platform: devstack.PlatformGitLab, Claims: map[string]any{"project_id": "77", "ref_protected": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(other+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := s.JobBinding(context.Background(), "vault", file)
	if err != nil {
		t.Fatal(err)
	}
	if b.Platform != PlatformGitLab || b.Claims["project_id"] != "77" || b.Claims["ref_protected"] != "" || len(JobBindingNotes(b)) != 1 {
		t.Errorf("binding %+v, notes %q", b, JobBindingNotes(b))
	}
	noID, _ := st.MintTokenWith(devstack.TokenRequest{Claims: map[string]any{"repository_id": nil}})
	if err := os.WriteFile(file, []byte(noID), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobBinding(context.Background(), "vault", file); err == nil || !strings.Contains(err.Error(), "names no repository_id") {
		t.Errorf("a token without ids: %v", err)
	}
}

// The mutable claims a user binds are warned about.
func TestBindingWarnings(t *testing.T) {
	w := BindingWarnings(provider.Binding{Claims: map[string]string{"repository": "a/b", "ref": "refs/heads/main", "repository_id": "1"}})
	if len(w) != 2 || !strings.Contains(w[0], "bind repository_id instead") || !strings.Contains(w[1], "without ref_protected=true") {
		t.Errorf("warnings %q", w)
	}
	if w := BindingWarnings(provider.Binding{Claims: map[string]string{"project_id": "1", "ref": "main", "ref_protected": "true"}}); len(w) != 0 {
		t.Errorf("immutable claims warned: %q", w)
	}
}

// The Vault role and the octo-sts policy rendered for the job load into
// the stand-ins, which then admit the job's token and refuse one of
// another repository_id.
func TestRenderRoundTrip(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	other, err := st.MintTokenWith(devstack.TokenRequest{Audience: devstack.Audience, Claims: map[string]any{"repository_id": "424242"}})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := st.MintToken("", devstack.Audience)

	vault := renderFromJob(t, st, "vault")
	put := func(path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, st.VaultAddr+"/v1/"+path, bytes.NewReader(body))
		req.Header.Set("X-Vault-Token", st.VaultRootToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT %s: %d", path, resp.StatusCode)
		}
	}
	put("auth/jwt/config", vault.Documents[0].Content)
	put("auth/jwt/role/"+devstack.VaultRole, vault.Documents[1].Content)
	policy, _ := json.Marshal(map[string]string{"policy": string(vault.Documents[2].Content)})
	put("sys/policies/acl/"+devstack.VaultRole, policy)
	login := func(tok string) int {
		body, _ := json.Marshal(map[string]string{"role": devstack.VaultRole, "jwt": tok})
		resp, err := http.Post(st.VaultAddr+"/v1/auth/jwt/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := login(job); got != http.StatusOK {
		t.Errorf("vault: the job's token: %d", got)
	}
	if got := login(other); got != http.StatusBadRequest {
		t.Errorf("vault: another repository_id: %d", got)
	}
	// The job itself runs with the loaded role and policy.
	s, log := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("a job under the rendered vault role: %v\n%s", err, log)
	}
	if out, code := run(t, s, `test -n "$DB_PASSWORD" && test -n "$API_TOKEN" && echo ok`); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("a run under the rendered vault role: exit %d\n%s%s", code, out, log)
	}
	if _, err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	octo := renderFromJob(t, st, "octo-sts")
	if err := st.SetGitHubTrustPolicy(devstack.Repository, devstack.GitHubIdentity, octo.Documents[0].Content); err != nil {
		t.Fatal(err)
	}
	exchange := func(tok string) int {
		q := url.Values{"scope": {devstack.Repository}, "identity": {devstack.GitHubIdentity}}
		req, _ := http.NewRequest(http.MethodGet, st.GitHubSTSURL+"/sts/exchange?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := exchange(job); got != http.StatusOK {
		t.Errorf("octo-sts: the job's token: %d", got)
	}
	if got := exchange(other); got != http.StatusForbidden {
		t.Errorf("octo-sts: another repository_id: %d", got)
	}
}

// Outside a job, render without --bind says how to render instead.
func TestRenderOutsideAJob(t *testing.T) {
	cfg, err := ParseConfig([]byte(trustConfig), "trust.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(Options{Config: cfg, Getenv: func(string) string { return "" }, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.JobBinding(context.Background(), "aws", "")
	var cfgErr *ConfigError
	if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "no OIDC identity found") || !strings.Contains(err.Error(), "--token-file F") {
		t.Errorf("outside a job: %v", err)
	}
}
