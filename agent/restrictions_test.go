package agent

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// The scopes' narrowing reaches the issuers and the attestation: the
// Vault token has exactly the asked policy, the GitHub token the asked
// permission, the AWS session the inline policy (which STS records), the
// GCP and token-exchange tokens their scopes.
func TestNarrowedGrantsAttested(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::releases/*"}]}`
	s, log := newTestSession(t, st,
		"    role: ci\n", "    role: ci\n    policies: [read-db]\n",
		"    identity: ci\n", "    identity: ci\n    permissions: {contents: read}\n",
		"    duration: 15m\n", "    duration: 15m\n    inline-session-policy: '"+policy+"'\n",
		"      - {path: secret/data/ci/api, field: token, env: API_TOKEN}\n", "",
	)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pred := verifyBundle(t, st, sum)
	got := map[string]string{}
	for _, g := range pred.Grants {
		if r := g.Restrictions; r != nil {
			got[g.Scope] = strings.Join(r.Policies, ",") + "|" + r.Permissions["contents"] + "|" + r.SessionPolicy
		}
	}
	if got["db"] != "read-db||" || got["repo"] != "|read|" || got["deploy"] != "||"+policy {
		t.Errorf("attested restrictions %q", got)
	}
	for _, g := range pred.Grants {
		want := map[string]string{"gcloud": "https://www.googleapis.com/auth/cloud-platform", "api": "read"}[g.Scope]
		if want != "" && (g.Restrictions == nil || strings.Join(g.Restrictions.Scopes, " ") != want) {
			t.Errorf("scope %s: restrictions %+v, want scopes %s", g.Scope, g.Restrictions, want)
		}
	}
	var stsPolicy any
	for _, c := range st.Credentials() {
		if c.Provider == devstack.ProviderAWS {
			stsPolicy = c.Restrictions["policy"]
		}
	}
	if stsPolicy != policy {
		t.Errorf("STS recorded session policy %v", stsPolicy)
	}
	if !slices.ContainsFunc(pred.Grants, func(g attest.Grant) bool { return g.Scope == "db" && g.Restrictions != nil }) {
		t.Errorf("no db grant")
	}
}
