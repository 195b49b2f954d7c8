package devstack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A trust policy loaded into the octo-sts stand-in admits the tokens it
// binds (here by repository_id, as `policy render` writes it) and refuses
// others with octo-sts's messages; a request narrows the token's
// permissions below the policy's, and a request for more is refused.
func TestGitHubLoadedTrustPolicy(t *testing.T) {
	s := startStack(t, Options{})
	policy := "issuer: " + s.IssuerURL + "\nsubject_pattern: .+\naudience: " + Audience + "\nclaim_pattern:\n  repository_id: \"" + s.job.repositoryID + "\"\npermissions:\n  contents: read\n  issues: write\n"
	put := func(scope, identity, body string) (int, []byte) {
		q := url.Values{"scope": {scope}, "identity": {identity}}
		return call(t, http.MethodPut, s.URL+"/devstack/octo-sts/trust-policy?"+q.Encode(), nil, body)
	}
	if status, body := put(Repository, "release", policy); status != http.StatusNoContent {
		t.Fatalf("load: %d %s", status, body)
	}
	exchangeWith := func(jwt string, extra url.Values) (int, map[string]any) {
		q := url.Values{"scope": {Repository}, "identity": {"release"}}
		for k, v := range extra {
			q[k] = v
		}
		status, body := call(t, http.MethodGet, s.GitHubSTSURL+"/sts/exchange?"+q.Encode(), http.Header{"Authorization": {"Bearer " + jwt}}, "")
		return status, decode[map[string]any](t, body)
	}
	job, _ := s.MintToken("", Audience)
	if status, resp := exchangeWith(job, nil); status != http.StatusOK {
		t.Fatalf("the bound job: %d %v", status, resp)
	}
	other, _ := s.MintTokenWith(TokenRequest{Audience: Audience, Claims: map[string]any{"repository_id": "1"}})
	if status, resp := exchangeWith(other, nil); status != http.StatusForbidden || resp["message"] != `trust policy: claim "repository_id" did not match "^(?:`+s.job.repositoryID+`)$"` {
		t.Errorf("another repository_id: %d %v", status, resp)
	}
	if status, resp := exchangeWith(job, url.Values{"permissions[issues]": {"read"}}); status != http.StatusOK {
		t.Errorf("narrowed: %d %v", status, resp)
	}
	creds := s.Credentials()
	last := creds[len(creds)-1].Restrictions
	if perms, _ := last["permissions"].(map[string]string); len(perms) != 1 || perms["issues"] != "read" {
		t.Errorf("the ledger records %v, want issues: read only", last)
	}
	for _, c := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"permissions[contents]": {"write"}}, `trust policy: permission "contents: write" exceeds "contents: read", which the trust policy grants`},
		{url.Values{"permissions[actions]": {"read"}}, `trust policy: permission "actions: read" is not granted by the trust policy (it grants contents: read, issues: write)`},
		{url.Values{"repositories": {"elsewhere"}}, `trust policy: repository "elsewhere" is not among those the trust policy reaches (devstack-demo)`},
	} {
		if status, resp := exchangeWith(job, c.q); status != http.StatusForbidden || resp["message"] != c.want {
			t.Errorf("%v: %d %v, want %q", c.q, status, resp, c.want)
		}
	}
	for _, c := range []struct{ scope, identity, body, want string }{
		{Repository, "x", "issuer: a\n", "one of subject or subject_pattern must be set"},
		{Repository, "x", "issuer: a\nsubject: b\nrepositories: [c]\n", "organisation policies only"},
		{Repository, "x", "issuer: a\nsubject: b\nclaims: {}\n", "unable to parse trust policy"},
		{Repository, "x", "issuer: a\nsubject: b\npermissions: {contents: all}\n", `contents: \"all\" is not read, write or admin`},
		{"someone/else", "x", policy, "no installation found"},
	} {
		if status, body := put(c.scope, c.identity, c.body); status != http.StatusBadRequest || !strings.Contains(string(body), c.want) {
			t.Errorf("%q: %d %s, want %q", c.body, status, body, c.want)
		}
	}
}
