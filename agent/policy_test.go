package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

const examplePolicy = `version: 1
rules:
  - match: {iss: "https://token\\.actions\\.githubusercontent\\.com", repository: "acme/.*"}
    allow:
      - {scope: deploy, max-duration: 15m}
      - {provider: vault, principal: "ci-.*"}
  - match: {ref: refs/heads/main, repository: acme/widgets}
    allow: [{scope: release}]
`

func TestPolicyAllows(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy), "owner.yml")
	if err != nil {
		t.Fatal(err)
	}
	widgetsMain := map[string]string{"iss": "https://token.actions.githubusercontent.com", "repository": "acme/widgets", "ref": "refs/heads/main"}
	forkBranch := map[string]string{"iss": "https://token.actions.githubusercontent.com", "repository": "acme/widgets", "ref": "refs/heads/feature"}
	other := map[string]string{"iss": "https://token.actions.githubusercontent.com", "repository": "evil/acme/widgets"}
	for _, c := range []struct {
		name   string
		claims map[string]string
		req    PolicyRequest
		ok     bool
		reason string
	}{
		{"scope within its lifetime", widgetsMain, PolicyRequest{Scope: "deploy", Provider: "aws", Lifetime: 15 * time.Minute}, true, ""},
		{"scope over its lifetime", widgetsMain, PolicyRequest{Scope: "deploy", Provider: "aws", Lifetime: time.Hour}, false, "asks for 1h0m0s, more than max-duration 15m0s"},
		{"lifetime unknown", widgetsMain, PolicyRequest{Scope: "deploy", Provider: "vault"}, false, "does not state its lifetime"},
		{"provider and principal", forkBranch, PolicyRequest{Scope: "db", Provider: "vault", Principal: "ci-deploy"}, true, ""},
		{"principal anchored", forkBranch, PolicyRequest{Scope: "db", Provider: "vault", Principal: "prod-ci-deploy"}, false, "allows scope"},
		{"second rule needs main", forkBranch, PolicyRequest{Scope: "release", Provider: "github"}, false, "allows scope \"release\""},
		{"second rule on main", widgetsMain, PolicyRequest{Scope: "release", Provider: "github"}, true, ""},
		{"match anchored", other, PolicyRequest{Scope: "db", Provider: "vault", Principal: "ci-x"}, false, "no rule matches this identity"},
		{"claim missing", map[string]string{"repository": "acme/widgets"}, PolicyRequest{Scope: "db", Provider: "vault", Principal: "ci-x"}, false, "no rule matches"},
	} {
		ok, reason := p.Allows(c.claims, c.req)
		if ok != c.ok || !strings.Contains(reason, c.reason) || ok && reason != "" {
			t.Errorf("%s: Allows = %v, %q; want %v with %q", c.name, ok, reason, c.ok, c.reason)
		}
		if !ok && !strings.HasPrefix(reason, "policy owner.yml: ") {
			t.Errorf("%s: reason %q does not name the policy", c.name, reason)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"version: 1\nrules:\n  - match: {a: b}\n    allow: [{scope: x, rolle: y}]\n", `line 4: unknown key "rolle"`},
		{"version: 2\nrules: []\n", "version 2, want 1"},
		{"version: 1\n", "no rules"},
		{"version: 1\nrules:\n  - allow: [{scope: x}]\n", "match is empty"},
		{"version: 1\nrules:\n  - match: {a: \"(\"}\n    allow: [{scope: x}]\n", "rules[0].match.a"},
		{"version: 1\nrules:\n  - match: {a: b}\n    allow: [{max-duration: 5m}]\n", "names no scope, provider or principal"},
		{"version: 1\nrules:\n  - match: {a: b}\n    allow: [{scope: x, max-duration: soon}]\n", "line 4"},
		{"", "empty"},
	} {
		_, err := ParsePolicy([]byte(c.doc), "p.yml")
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want a one-line ConfigError with %q", c.doc, err, c.want)
		}
	}
}

// A scope the owner's policy does not allow is not issued, and the
// refusal is attested; the allowed ones are issued as usual.
// ownerPolicy allows the vault scope, deploy (aws) for 15 minutes and
// gcloud for 10 (which asks 15): repo, api, gcloud and azure are refused.
func ownerPolicy(t *testing.T) *Policy {
	t.Helper()
	policy, err := ParsePolicy([]byte(`version: 1
rules:
  - match: {repository: chaperone-ci/devstack-demo, ref: refs/heads/main}
    allow:
      - {provider: vault, principal: ci}
      - {scope: deploy, max-duration: 15m}
      - {scope: gcloud, max-duration: 10m}
`), "owner.yml")
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

// A scope the owner's policy refuses fails the run before anything is
// issued, naming each refused scope and why; the attestation records the
// refusals.
func TestPolicyRefusalFailsTheRun(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	s, log := newTestSession(t, st, "  - name: api\n", "  - name: api\n    optional: true\n")
	s.opts.Policy = ownerPolicy(t)
	err := s.Begin(context.Background())
	var agentErr *AgentError
	if !errors.As(err, &agentErr) {
		t.Fatalf("Begin = %v, want an agent failure\n%s", err, log)
	}
	for _, want := range []string{`scope "repo": policy owner.yml`, `scope "gcloud"`, `scope "azure"`, "more than max-duration 10m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), `scope "api"`) {
		t.Errorf("the optional scope's refusal fails the run: %v", err)
	}
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("%d credentials issued before the refusal", n)
	}
	pred := readPredicate(t, s.cfg.Attest.Output)
	if len(pred.Refused) != 4 || pred.Outcome != attest.OutcomeAgentError || len(pred.Grants) != 0 {
		t.Errorf("refused %+v, outcome %q, grants %d", pred.Refused, pred.Outcome, len(pred.Grants))
	}
}

// readPredicate reads a bundle's predicate without verifying it.
func readPredicate(t *testing.T, path string) *attest.JobPredicate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		DSSE struct{ Payload []byte } `json:"dsseEnvelope"`
	}
	var stmt struct{ Predicate attest.JobPredicate }
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.DSSE.Payload, &stmt); err != nil {
		t.Fatal(err)
	}
	return &stmt.Predicate
}

// Optional scopes the policy refuses are skipped: the job runs with the
// others.
func TestSessionSkipsRefusedOptionalScopes(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	var edits []string
	for _, name := range []string{"repo", "gcloud", "api", "azure"} {
		edits = append(edits, "  - name: "+name+"\n", "  - name: "+name+"\n    optional: true\n")
	}
	s, log := newTestSession(t, st, edits...)
	s.opts.Policy = ownerPolicy(t)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v\n%s", err, log)
	}
	env := strings.Join(s.Environ(), "\n")
	for _, name := range []string{"DB_PASSWORD", "AWS_ACCESS_KEY_ID"} {
		if !strings.Contains(env, "\n"+name+"=") {
			t.Errorf("allowed scope's %s not delivered", name)
		}
	}
	for _, name := range []string{"GITHUB_TOKEN", "API_ACCESS_TOKEN"} {
		if strings.Contains(env, "\n"+name+"=") {
			t.Errorf("refused scope's %s delivered", name)
		}
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pred := verifyBundle(t, st, sum)
	refused := map[string]string{}
	for _, r := range pred.Refused {
		refused[r.Scope] = r.Reason
	}
	var issued []string
	for _, g := range pred.Grants {
		issued = append(issued, g.Scope)
	}
	if strings.Join(issued, ",") != "db,deploy" || len(refused) != 4 ||
		!strings.Contains(refused["gcloud"], "more than max-duration 10m0s") || !strings.Contains(refused["repo"], "allows scope \"repo\"") {
		t.Errorf("issued %v, refused %v\n%s", issued, refused, log)
	}
	if !strings.Contains(log.String(), "scope repo refused (optional: the job runs without it): policy owner.yml") {
		t.Errorf("log does not report the refusal:\n%s", log)
	}
}

// An attested grant is judged as its scope was: with the attested claims,
// and the lifetime it was issued for.
func TestPolicyGrantRefusal(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy), "owner.yml")
	if err != nil {
		t.Fatal(err)
	}
	id := attest.Identity{Issuer: "https://token.actions.githubusercontent.com", Claims: map[string]string{"repository": "acme/widgets"}}
	issued := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	deploy := attest.Grant{Scope: "deploy", Provider: "aws", IssuedAt: issued, ExpiresAt: issued.Add(15 * time.Minute)}
	if why := p.GrantRefusal(id, deploy); why != "" {
		t.Errorf("15-minute deploy grant refused: %s", why)
	}
	// Issued a little after issuedAt was taken: still the 15 minutes asked.
	deploy.ExpiresAt = issued.Add(15*time.Minute + 2*time.Second)
	if why := p.GrantRefusal(id, deploy); why != "" {
		t.Errorf("15 minutes and 2 seconds refused: %s", why)
	}
	deploy.ExpiresAt = issued.Add(time.Hour)
	if why := p.GrantRefusal(id, deploy); !strings.Contains(why, "more than max-duration 15m0s") {
		t.Errorf("1-hour deploy grant: %q", why)
	}
	id.Issuer = "https://gitlab.com"
	if why := p.GrantRefusal(id, attest.Grant{Scope: "db", Provider: "vault", Principal: "ci-x"}); !strings.Contains(why, "no rule matches") {
		t.Errorf("another issuer: %q", why)
	}
}
