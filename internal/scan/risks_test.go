package scan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// riskyTree plants one case of each risky setup.
func riskyTree(t *testing.T) string {
	return writeTree(t, map[string]string{
		// pull_request_target checking out the PR's head with a secret.
		".github/workflows/pr-target.yml": `on: pull_request_target
permissions: {contents: read}
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: make test
        env:
          NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
`,
		// workflow_run checking out the triggering run's head with id-token.
		".github/workflows/after-build.yml": `on:
  workflow_run:
    workflows: [build]
    types: [completed]
jobs:
  publish:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      id-token: write
    steps:
      - uses: actions/checkout@v4
        with: {ref: "${{ github.event.workflow_run.head_sha }}"}
      - run: ./publish.sh
`,
		// id-token: write for every job; the deploy job has no timeout.
		".github/workflows/release.yml": `on: push
permissions:
  contents: read
  id-token: write
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - run: make
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: chaperone-ci/chaperone@v0.1.0
`,
		// GitLab: id_tokens on every ref, and in MR pipelines from forks.
		".gitlab-ci.yml": `stages: [deploy]
deploy:
  stage: deploy
  id_tokens:
    VAULT_ID_TOKEN: {aud: https://vault.example.com}
  script: [./deploy.sh]
review:
  id_tokens:
    CHAPERONE_ID_TOKEN: {aud: chaperone}
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script: [./review.sh]
.creds:
  id_tokens:
    CHAPERONE_ID_TOKEN: {aud: chaperone}
  rules:
    - if: $CI_COMMIT_REF_PROTECTED == "true"
lint:
  extends: [.creds]
  rules:
    - if: $CI_COMMIT_BRANCH
  script: [make lint]
`,
	})
}

// cleanTree holds the safe form of each setup.
func cleanTree(t *testing.T) string {
	return writeTree(t, map[string]string{
		// pull_request_target that checks out only the base (the default).
		".github/workflows/label.yml": `on: pull_request_target
permissions: {contents: read, pull-requests: write}
jobs:
  label:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v4
      - run: ./label.sh
        env:
          TOKEN: ${{ secrets.GITHUB_TOKEN }}
`,
		// id-token where it is needed, with a timeout; a PR build without secrets.
		".github/workflows/release.yml": `on: [push, pull_request]
permissions: {contents: read}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {ref: "${{ github.event.pull_request.head.sha }}"}
      - run: make
  deploy:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions: {id-token: write, contents: read}
    steps:
      - uses: chaperone-ci/chaperone@v0.1.0
`,
		".gitlab-ci.yml": `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: never
    - when: always
.vault:
  id_tokens:
    VAULT_ID_TOKEN: {aud: https://vault.example.com}
deploy:
  extends: .vault
  id_tokens:
    VAULT_ID_TOKEN: {aud: https://vault.example.com}
  rules:
    - if: $CI_COMMIT_REF_PROTECTED == "true"
  script: [./deploy.sh]
review:
  id_tokens:
    CHAPERONE_ID_TOKEN: {aud: chaperone}
  rules:
    - if: $CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID && $CI_COMMIT_REF_PROTECTED == "true"
  script: [./review.sh]
test:
  script: [make test]
.creds:
  id_tokens:
    CHAPERONE_ID_TOKEN: {aud: chaperone}
  rules:
    - if: $CI_COMMIT_REF_PROTECTED == "true"
publish:
  extends: .creds
  script: [./publish.sh]
`,
	})
}

func TestRiskySetupsFound(t *testing.T) {
	res, err := Dir(riskyTree(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s:%d:%d %s", f.Path, f.Line, f.Column, f.Rule))
		if f.Rule != RuleLongLivedSecret && (!strings.Contains(f.Message, ": ") || len(f.Message) < 60) {
			t.Errorf("%s: the message does not say why and what to change: %q", f.Rule, f.Message)
		}
	}
	want := []string{
		".github/workflows/after-build.yml:12:15 " + RuleUntrustedCheckout,
		".github/workflows/pr-target.yml:8:15 " + RuleUntrustedCheckout,
		".github/workflows/release.yml:2:1 " + RuleWorkflowIDToken,
		".github/workflows/release.yml:11:3 " + RuleNoTimeout,
		".gitlab-ci.yml:2:1 " + RuleUnprotectedIDToken,
		".gitlab-ci.yml:7:1 " + RuleUnprotectedIDToken,
		".gitlab-ci.yml:18:1 " + RuleUnprotectedIDToken, // extends the tokens, overrides the rules
		".github/workflows/pr-target.yml:13:22 " + RuleLongLivedSecret,
	}
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("missing %s", w)
		}
	}
	for _, g := range got {
		if !contains(want, g) {
			t.Errorf("unexpected %s", g)
		}
	}
	byRule := map[string]string{}
	for _, f := range res.Findings {
		byRule[f.Rule+" "+f.Path] += f.Message
	}
	if m := byRule[RuleUntrustedCheckout+" .github/workflows/pr-target.yml"]; !strings.Contains(m, "secrets NPM_TOKEN") || !strings.Contains(m, "pull_request_target") {
		t.Errorf("pull_request_target finding: %q", m)
	}
	if m := byRule[RuleUntrustedCheckout+" .github/workflows/after-build.yml"]; !strings.Contains(m, "id-token: write") || !strings.Contains(m, "workflow_run") {
		t.Errorf("workflow_run finding: %q", m)
	}
	if m := byRule[RuleUnprotectedIDToken+" .gitlab-ci.yml"]; !strings.Contains(m, "forks") || !strings.Contains(m, "need not be protected") {
		t.Errorf("GitLab findings: %q", m)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCleanSetupsNotFound(t *testing.T) {
	res, err := Dir(cleanTree(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("clean fixture: %s", f)
	}
}

func TestRiskySARIFValidates(t *testing.T) {
	res, err := Dir(riskyTree(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := SARIF(res.Findings, "test")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := jsonschema.NewCompiler().Compile("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("SARIF does not validate: %v", err)
	}
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct{ Rules []struct{ ID string } }
			}
			Results []struct{ RuleID string }
		}
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatal(err)
	}
	rules := map[string]bool{}
	for _, r := range log.Runs[0].Tool.Driver.Rules {
		rules[r.ID] = true
	}
	for _, r := range log.Runs[0].Results {
		if !rules[r.RuleID] {
			t.Errorf("result of rule %s, which the driver does not list", r.RuleID)
		}
	}
}

// The repository's own examples show the safe setups.
func TestExamplesScanClean(t *testing.T) {
	res, err := Dir("../../examples", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("examples/%s", f)
	}
}
