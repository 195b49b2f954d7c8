package scan

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule ids of the risky CI setups: a pipeline that hands credentials to
// code it should not, or keeps them longer than it needs.
const (
	RuleUntrustedCheckout  = "untrusted-checkout-with-credentials"
	RuleWorkflowIDToken    = "workflow-wide-id-token"
	RuleNoTimeout          = "credentials-without-timeout"
	RuleUnprotectedIDToken = "id-token-on-unprotected-ref"
)

// riskRules describes the rules of this file, for Rules.
func riskRules() []RuleInfo {
	return []RuleInfo{
		{RuleUntrustedCheckout, "a pull_request_target or workflow_run job checks out the pull request's code while it holds secrets or id-token: write"},
		{RuleWorkflowIDToken, "id-token: write is granted to every job of a workflow instead of to the job that federates"},
		{RuleNoTimeout, "a job that obtains credentials has no timeout-minutes (GitHub's default is 6 hours)"},
		{RuleUnprotectedIDToken, "a GitLab job with id_tokens runs on unprotected refs or in merge request pipelines from forks"},
	}
}

// yamlDoc parses a CI configuration for its structure; a file that is not
// YAML (or not a mapping) has none to judge.
func yamlDoc(data []byte) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	return doc.Content[0]
}

// get returns the value of key in mapping m, and the key's node (for its
// position).
func get(m *yaml.Node, key string) (value, keyNode *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1], m.Content[i]
		}
	}
	return nil, nil
}

// text is every scalar under n, joined: what a job's expressions mention.
func text(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var parts []string
	for _, c := range n.Content {
		parts = append(parts, text(c))
	}
	return strings.Join(parts, "\n")
}

func finding(rule, name string, at *yaml.Node, format string, args ...any) Finding {
	return Finding{Rule: rule, Path: name, Line: at.Line, Column: at.Column, Message: fmt.Sprintf(format, args...)}
}

var (
	// untrustedRef is a checkout ref naming the pull request's (or the
	// triggering run's) head rather than the base repository's code.
	untrustedRef = regexp.MustCompile(`github\.event\.pull_request\.head\.|github\.head_ref|github\.event\.workflow_run\.head_|refs/pull/|merge_commit_sha`)
	// credentialActions obtain cloud or service credentials in a job.
	credentialActions = []string{"chaperone-ci/chaperone", "aws-actions/configure-aws-credentials", "hashicorp/vault-action",
		"google-github-actions/auth", "azure/login", "octo-sts/action"}
)

// workflowRisks reports the risky setups of one GitHub Actions workflow.
func workflowRisks(name string, data []byte) []Finding {
	root := yamlDoc(data)
	jobs, _ := get(root, "jobs")
	if root == nil || jobs == nil || jobs.Kind != yaml.MappingNode {
		return nil
	}
	var out []Finding
	wfPerms, wfPermsKey := get(root, "permissions")
	if grantsIDToken(wfPerms) && len(jobs.Content) > 2 {
		out = append(out, finding(RuleWorkflowIDToken, name, wfPermsKey,
			"id-token: write is granted to all %d jobs of the workflow: any of them can mint OIDC tokens for any audience. Grant it in jobs.<id>.permissions of the job that federates only", len(jobs.Content)/2))
	}
	on, _ := get(root, "on")
	triggers := triggerNames(on)
	untrustedTrigger := ""
	for _, t := range []string{"pull_request_target", "workflow_run"} {
		if slices.Contains(triggers, t) {
			untrustedTrigger = t
			break
		}
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		jobKey, job := jobs.Content[i], jobs.Content[i+1]
		perms, hasPerms := get(job, "permissions")
		idToken := grantsIDToken(perms)
		if hasPerms == nil {
			idToken = grantsIDToken(wfPerms)
		}
		if untrustedTrigger != "" {
			if at := untrustedCheckout(job); at != nil {
				if held := heldCredentials(job, idToken); held != "" {
					out = append(out, finding(RuleUntrustedCheckout, name, at,
						"job %s runs on %s and checks out the pull request's code while it holds %s: code from a fork runs with them. Build untrusted code in a pull_request workflow without secrets, and keep credentials to jobs that run only trusted code", jobKey.Value, untrustedTrigger, held))
				}
			}
		}
		if why := obtainsCredentials(job, idToken); why != "" {
			if timeout, _ := get(job, "timeout-minutes"); timeout == nil {
				out = append(out, finding(RuleNoTimeout, name, jobKey,
					"job %s obtains credentials (%s) and has no timeout-minutes: a hung step keeps them for GitHub's default of 6 hours. Set timeout-minutes to what the job needs", jobKey.Value, why))
			}
		}
	}
	return out
}

// triggerNames lists a workflow's events: on: EVENT, on: [A, B], or a
// mapping of events.
func triggerNames(on *yaml.Node) []string {
	if on == nil {
		return nil
	}
	switch on.Kind {
	case yaml.ScalarNode:
		return []string{on.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range on.Content {
			out = append(out, c.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(on.Content); i += 2 {
			out = append(out, on.Content[i].Value)
		}
		return out
	}
	return nil
}

// grantsIDToken reports whether a permissions value grants id-token:
// write (write-all does).
func grantsIDToken(perms *yaml.Node) bool {
	if perms == nil {
		return false
	}
	if perms.Kind == yaml.ScalarNode {
		return perms.Value == "write-all"
	}
	v, _ := get(perms, "id-token")
	return v != nil && v.Value == "write"
}

// untrustedCheckout returns the step of a job that checks out the pull
// request's head, or nil.
func untrustedCheckout(job *yaml.Node) *yaml.Node {
	steps, _ := get(job, "steps")
	if steps == nil {
		return nil
	}
	for _, step := range steps.Content {
		uses, _ := get(step, "uses")
		if uses == nil || !strings.HasPrefix(uses.Value, "actions/checkout@") {
			continue
		}
		with, _ := get(step, "with")
		if untrustedRef.MatchString(text(with)) {
			return uses
		}
	}
	return nil
}

// heldCredentials says what credentials a job holds: the secrets it reads
// (secrets: inherit, ${{ secrets.NAME }}) and id-token: write. "" for none.
func heldCredentials(job *yaml.Node, idToken bool) string {
	var held []string
	if inherit, _ := get(job, "secrets"); inherit != nil && inherit.Value == "inherit" {
		held = append(held, "every secret (secrets: inherit)")
	}
	names := map[string]bool{}
	for _, m := range githubSecretRef.FindAllStringSubmatch(text(job), -1) {
		names[m[1]] = true
	}
	if len(names) > 0 {
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		held = append(held, "secrets "+strings.Join(list, ", "))
	}
	if idToken {
		held = append(held, "id-token: write")
	}
	return strings.Join(held, " and ")
}

// obtainsCredentials says how a job obtains credentials: an OIDC token it
// may mint, or an action that fetches cloud credentials. "" for neither.
func obtainsCredentials(job *yaml.Node, idToken bool) string {
	if idToken {
		return "id-token: write"
	}
	steps, _ := get(job, "steps")
	if steps == nil {
		return ""
	}
	for _, step := range steps.Content {
		uses, _ := get(step, "uses")
		if uses == nil {
			continue
		}
		action, _, _ := strings.Cut(uses.Value, "@")
		if slices.Contains(credentialActions, strings.ToLower(action)) {
			return action
		}
	}
	return ""
}

// gitlabKeywords are the top-level keys of .gitlab-ci.yml that are not
// jobs.
var gitlabKeywords = []string{"default", "include", "stages", "variables", "workflow", "image", "services",
	"cache", "before_script", "after_script", "pages", "spec"}

// gitlabRisks reports the jobs of a .gitlab-ci.yml that get ID tokens in
// pipelines anyone can start: on unprotected refs, or for merge requests
// from forks.
func gitlabRisks(name string, data []byte) []Finding {
	root := yamlDoc(data)
	if root == nil {
		return nil
	}
	def, _ := get(root, "default")
	defaultTokens, _ := get(def, "id_tokens")
	workflow, _ := get(root, "workflow")
	workflowRules, _ := get(workflow, "rules")
	var out []Finding
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, job := root.Content[i], root.Content[i+1]
		if strings.HasPrefix(key.Value, ".") || slices.Contains(gitlabKeywords, key.Value) || job.Kind != yaml.MappingNode {
			continue // templates are judged in the jobs that use them
		}
		tokens := inherited(root, job, "id_tokens", 0)
		if tokens == nil {
			tokens = defaultTokens
		}
		if tokens == nil {
			continue
		}
		rules := inherited(root, job, "rules", 0)
		only := inherited(root, job, "only", 0)
		conditions := text(workflowRules) + "\n" + text(rules) + "\n" + text(only)
		running := runningRules(workflowRules) + "\n" + runningRules(rules) + "\n" + text(only)
		switch {
		case mergeRequests(running) && !strings.Contains(conditions, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID") && !strings.Contains(conditions, "CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"):
			out = append(out, finding(RuleUnprotectedIDToken, name, key,
				"job %s gets ID tokens in merge request pipelines, also for merge requests from forks: their code can exchange the tokens for your credentials. Add a rule that the source project is this one ($CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_PROJECT_ID), or run it on protected refs only", key.Value))
		case !strings.Contains(conditions, "CI_COMMIT_REF_PROTECTED"):
			out = append(out, finding(RuleUnprotectedIDToken, name, key,
				"job %s gets ID tokens on refs that need not be protected: anyone who can push such a branch can run code with them. Add rules: - if: $CI_COMMIT_REF_PROTECTED == \"true\" (and bind ref_protected in the issuers' trust policies)", key.Value))
		}
	}
	return out
}

// inherited is a job's key, or the nearest one of the templates it
// extends (extends: NAME or a list, the last one winning, as GitLab merges
// them). depth bounds a chain of extends, as GitLab does (11 levels).
func inherited(root, job *yaml.Node, key string, depth int) *yaml.Node {
	if v, _ := get(job, key); v != nil {
		return v
	}
	extends, _ := get(job, "extends")
	if extends == nil || depth > 10 {
		return nil
	}
	names := []*yaml.Node{extends}
	if extends.Kind == yaml.SequenceNode {
		names = extends.Content
	}
	for i := len(names) - 1; i >= 0; i-- {
		if tmpl, _ := get(root, names[i].Value); tmpl != nil {
			if v := inherited(root, tmpl, key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}

// runningRules is the text of the rules that let a job run: a rule with
// when: never excludes the pipelines it matches.
func runningRules(rules *yaml.Node) string {
	if rules == nil {
		return ""
	}
	var parts []string
	for _, r := range rules.Content {
		if when, _ := get(r, "when"); when != nil && when.Value == "never" {
			continue
		}
		parts = append(parts, text(r))
	}
	return strings.Join(parts, "\n")
}

// mergeRequests reports whether job conditions let it run in merge
// request pipelines.
func mergeRequests(conditions string) bool {
	return strings.Contains(conditions, "merge_request_event") || strings.Contains(conditions, "merge_requests")
}
