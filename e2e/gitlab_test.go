package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gitlabRunner calls the custom executor driver as GitLab Runner does:
// every stage a new process, with the job's variables as CUSTOM_ENV_*, the
// runner's exit codes and files, and config_exec's job_env added to the
// later stages (docs/executors/custom.md).
type gitlabRunner struct {
	t      *testing.T
	dir    string // the runner's working directory
	env    []string
	jobEnv map[string]string
	code   string // BUILD_EXIT_CODE_FILE
}

// jobToken is the job's CI_JOB_TOKEN in the harness.
const jobToken = "glcbt-64_harnessJobTokenValue"

func newGitLabRunner(t *testing.T, ds *devstack) *gitlabRunner {
	dir := t.TempDir()
	r := &gitlabRunner{t: t, dir: dir, code: filepath.Join(dir, "exit-code")}
	job := filepath.Join(dir, "job.json")
	if err := os.WriteFile(job, []byte(`{"id":`+ds.env["CI_JOB_ID"]+`,"token":"`+jobToken+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"BUILD_FAILURE_EXIT_CODE=1", "SYSTEM_FAILURE_EXIT_CODE=2",
		"BUILD_EXIT_CODE_FILE=" + r.code, "JOB_RESPONSE_FILE=" + job,
		"CUSTOM_ENV_CI_JOB_TOKEN=" + jobToken}
	for k, v := range ds.env {
		if strings.HasPrefix(k, "CHAPERONE_DEVSTACK_") {
			continue // the devstack's own addresses are not job variables
		}
		r.env = append(r.env, "CUSTOM_ENV_"+k+"="+v)
	}
	return r
}

// stage runs one driver stage.
func (r *gitlabRunner) stage(args ...string) result { return r.stageEnv(nil, args...) }

// stageEnv runs one driver stage with extra environment.
func (r *gitlabRunner) stageEnv(extra []string, args ...string) result {
	env := append(append([]string(nil), r.env...), extra...)
	for k, v := range r.jobEnv {
		env = append(env, k+"="+v)
	}
	return chaperone(r.t, r.dir, env, append([]string{"gitlab"}, args...)...)
}

// script writes a stage's script as the runner would.
func (r *gitlabRunner) script(name, body string) string {
	path := filepath.Join(r.dir, name)
	if err := os.WriteFile(path, []byte("#!/usr/bin/env bash\nset -eo pipefail\n"+body), 0o700); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// fileDeliveredAWS points the job's CHAPERONE_CONFIG at a copy of
// devstack's config whose aws scope is delivered as files.
func (r *gitlabRunner) fileDeliveredAWS() {
	r.editConfig("    duration: 15m\n", "    duration: 15m\n    deliver: file\n")
}

// editConfig points the job's CHAPERONE_CONFIG at a copy of devstack's
// config with each edit (old, new, old, new, …) made once.
func (r *gitlabRunner) editConfig(edits ...string) {
	r.t.Helper()
	for i, kv := range r.env {
		path, ok := strings.CutPrefix(kv, "CUSTOM_ENV_CHAPERONE_CONFIG=")
		if !ok {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			r.t.Fatal(err)
		}
		edited := string(data)
		for j := 0; j+1 < len(edits); j += 2 {
			if !strings.Contains(edited, edits[j]) {
				r.t.Fatalf("devstack's config has no %q", edits[j])
			}
			edited = strings.Replace(edited, edits[j], edits[j+1], 1)
		}
		cfg := filepath.Join(r.t.TempDir(), "chaperone.yml")
		if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
			r.t.Fatal(err)
		}
		r.env[i] = "CUSTOM_ENV_CHAPERONE_CONFIG=" + cfg
		return
	}
	r.t.Fatal("no CUSTOM_ENV_CHAPERONE_CONFIG")
}

// seeLine is a stage's line that writes what the stage can see (its
// environment, and every file in the runner host's temporary directory,
// where delivered files go) beside the job log, which the masker filters.
func seeLine(evidence, stage string) string {
	return `{ env; find "$TMPDIR" -type f -exec cat {} +; echo; } >` + shellWord(filepath.Join(evidence, stage)) + "\n"
}

func TestGitLabCustomExecutor(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	secrets := ds.seededSecrets(t)
	runner := newGitLabRunner(t, ds)
	runner.fileDeliveredAWS()
	tmp, evidence := t.TempDir(), t.TempDir()
	runner.env = append(runner.env, "TMPDIR="+tmp)

	// config_exec: JSON on stdout, with the session's directory in job_env.
	// The job's id comes from JOB_RESPONSE_FILE: a job that sets CI_JOB_ID
	// to another job's cannot share that job's session.
	res := runner.stageEnv([]string{"CUSTOM_ENV_CI_JOB_ID=1"}, "config", "--builds-dir", filepath.Join(runner.dir, "builds"), "--state-root", t.TempDir())
	if res.code != 0 {
		t.Fatalf("config exit %d:\n%s", res.code, res.stderr)
	}
	var cfg struct {
		BuildsDir string            `json:"builds_dir"`
		Shell     string            `json:"shell"`
		Driver    map[string]string `json:"driver"`
		JobEnv    map[string]string `json:"job_env"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &cfg); err != nil {
		t.Fatalf("config printed no JSON (%v):\n%s", err, res.stdout)
	}
	state := cfg.JobEnv["CHAPERONE_STATE_DIR"]
	if cfg.Shell != "bash" || cfg.Driver["name"] != "chaperone" || !strings.HasSuffix(state, "chaperone-gitlab-job-"+ds.env["CI_JOB_ID"]) {
		t.Fatalf("config: %+v", cfg)
	}
	runner.jobEnv = cfg.JobEnv

	// prepare_exec mints the job's credentials.
	res = runner.stage("prepare")
	if res.code != 0 {
		t.Fatalf("prepare exit %d:\n%s", res.code, res.stderr)
	}
	assertNoSecrets(t, secrets, res.stdout, res.stderr)

	// The runner's own stages before the job's script: no credential in
	// their environment or files, their output masked all the same.
	for _, stage := range []string{"prepare_script", "get_sources"} {
		res = runner.stage("run", runner.script(stage+".sh", seeLine(evidence, stage)+`printf 'job token %s\n' "$CUSTOM_ENV_CI_JOB_TOKEN"
`), stage)
		if res.code != 0 || !strings.Contains(res.stdout, "job token [MASKED]") || strings.Contains(res.stdout, jobToken) {
			t.Fatalf("%s exit %d:\n%s\n%s", stage, res.code, res.stdout, res.stderr)
		}
	}

	// run_exec: a stage that prints its credentials, raw and encoded, is
	// masked with GitLab's token before the runner sees it.
	build := runner.script("build_script.sh", seeLine(evidence, "build_script")+`printf 'db=%s\n' "$DB_PASSWORD"
printf '%s' "$API_TOKEN" | base64
printf 'token=%s\n' "$GITHUB_TOKEN" >&2
cat "$AWS_SECRET_ACCESS_KEY"; echo
printf 'AWS_SECRET_FILE_CONTENT=%s\n' "$(cat "$AWS_SECRET_ACCESS_KEY")" >>`+shellWord(filepath.Join(evidence, "build_script"))+`
echo built
`)
	res = runner.stage("run", build, "build_script")
	if res.code != 0 {
		t.Fatalf("build_script exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "db=[MASKED]") || !strings.Contains(res.stderr, "token=[MASKED]") || !strings.Contains(res.stdout, "[MASKED]\nbuilt") {
		t.Errorf("build_script output not masked as GitLab masks:\nstdout %q\nstderr %q", res.stdout, res.stderr)
	}
	assertNoSecrets(t, secrets, res.stdout, res.stderr)
	// What build_script saw is what the other stages must not see.
	credentials := stageCredentials(t, filepath.Join(evidence, "build_script"))
	res = runner.stage("run", runner.script("upload_artifacts_on_success.sh", seeLine(evidence, "upload_artifacts_on_success")), "upload_artifacts_on_success")
	if res.code != 0 {
		t.Fatalf("upload_artifacts_on_success exit %d:\n%s", res.code, res.stderr)
	}
	for _, stage := range []string{"prepare_script", "get_sources", "upload_artifacts_on_success"} {
		data, err := os.ReadFile(filepath.Join(evidence, stage))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"DB_PASSWORD=", "GITHUB_TOKEN=", "AWS_SECRET_ACCESS_KEY=", "CHAPERONE_STATE_DIR="} {
			if strings.Contains(string(data), name) {
				t.Errorf("%s has %s in its environment", stage, strings.TrimSuffix(name, "="))
			}
		}
		for _, v := range credentials {
			if strings.Contains(string(data), v) {
				t.Errorf("%s sees a credential value (environment or delivered file)", stage)
			}
		}
	}

	// A failing script: the runner's build failure code, and its own
	// status in BUILD_EXIT_CODE_FILE.
	res = runner.stage("run", runner.script("after_script.sh", "echo cleaning up\nexit 3\n"), "after_script")
	if res.code != 1 {
		t.Fatalf("after_script exit %d, want BUILD_FAILURE_EXIT_CODE 1:\n%s", res.code, res.stderr)
	}
	if data, err := os.ReadFile(runner.code); err != nil || string(data) != "3" {
		t.Errorf("BUILD_EXIT_CODE_FILE = %q (%v), want 3", data, err)
	}

	// The codes are the runner's to choose.
	res = runner.stageEnv([]string{"BUILD_FAILURE_EXIT_CODE=17", "SYSTEM_FAILURE_EXIT_CODE=19"}, "run", runner.script("step_x.sh", "exit 5\n"), "step_x")
	if res.code != 17 {
		t.Errorf("BUILD_FAILURE_EXIT_CODE=17: exit %d", res.code)
	}
	res = runner.stageEnv([]string{"SYSTEM_FAILURE_EXIT_CODE=19"}, "run", build)
	if res.code != 19 {
		t.Errorf("SYSTEM_FAILURE_EXIT_CODE=19: exit %d", res.code)
	}

	// A stage the driver cannot run is a system failure.
	res = runner.stage("run", build)
	if res.code != 2 || !strings.Contains(res.stderr, "SCRIPT STAGE") {
		t.Errorf("run without a stage: exit %d, want SYSTEM_FAILURE_EXIT_CODE 2:\n%s", res.code, res.stderr)
	}

	// cleanup_exec revokes, attests the stages, and removes the session.
	res = runner.stage("cleanup")
	if res.code != 0 {
		t.Fatalf("cleanup exit %d:\n%s", res.code, res.stderr)
	}
	assertNoSecrets(t, secrets, res.stdout, res.stderr)
	assertRevoked(t, ds, 1)
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("cleanup left the session directory: %v", err)
	}
	bundle := filepath.Join(runner.dir, "chaperone.sigstore.json")
	pred := bundlePredicate(t, bundle)
	// GitLab ignores a failing after_script, not a failing step.
	if pred.Platform != "gitlab" || len(pred.Steps) != 6 || pred.Outcome != "failure" {
		t.Fatalf("predicate: platform %q, %d steps, outcome %q", pred.Platform, len(pred.Steps), pred.Outcome)
	}
	for i, want := range []struct {
		stage string
		code  int
	}{{"prepare_script", 0}, {"get_sources", 0}, {"build_script", 0}, {"upload_artifacts_on_success", 0}, {"after_script", 3}, {"step_x", 5}} {
		if st := pred.Steps[i]; st.Stage != want.stage || st.ExitCode != want.code {
			t.Errorf("step %d: stage %q exit %d, want %q exit %d", i, st.Stage, st.ExitCode, want.stage, want.code)
		}
	}
	if pred.Steps[2].Redactions < 4 {
		t.Errorf("build_script: %d redactions, want ≥ 4", pred.Steps[2].Redactions)
	}
	// The job's own subject: the sha256 of its run URI.
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(pred.Job.RunURI)))
	v := chaperone(t, runner.dir, ds.environ(), "verify", bundle, "--key", ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"], "--digest", digest, "--require-revoked")
	if v.code != 0 {
		t.Errorf("verify exit %d:\n%s", v.code, v.stderr)
	}
}

// stageCredentials reads, from what build_script saw, the values of its
// credential variables and of a delivered file (the AWS scope's), and
// checks that file is gone once the stage has ended.
func stageCredentials(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "DB_PASSWORD", "API_TOKEN", "GITHUB_TOKEN", "API_ACCESS_TOKEN", "AWS_SECRET_FILE_CONTENT":
			out = append(out, v)
		case "AWS_SECRET_ACCESS_KEY":
			if _, err := os.Stat(v); !os.IsNotExist(err) {
				t.Errorf("the delivered file %s outlives build_script: %v", k, err)
			}
		}
	}
	if len(out) != 5 {
		t.Fatalf("build_script saw %d of its 5 credentials", len(out))
	}
	return out
}

// Without a config, prepare fails in one line, as the job's failure (the
// runner would retry a system failure three times to no avail).
func TestGitLabPrepareWithoutConfig(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	runner := newGitLabRunner(t, ds)
	var env []string
	for _, kv := range runner.env {
		if !strings.HasPrefix(kv, "CUSTOM_ENV_CHAPERONE_CONFIG=") {
			env = append(env, kv)
		}
	}
	runner.env = env
	runner.jobEnv = map[string]string{"CHAPERONE_STATE_DIR": filepath.Join(t.TempDir(), "s")}
	res := runner.stage("prepare")
	assertOneLineError(t, res, 1, "CHAPERONE_CONFIG", nil)
}

// The owner's policy and the session's directory are the runner host's:
// a job's variables of those names do not replace them.
func TestGitLabOwnerSettingsAreTheHosts(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	runner := newGitLabRunner(t, ds)
	strict := filepath.Join(t.TempDir(), "owner.yml")
	if err := os.WriteFile(strict, []byte("version: 1\nrules:\n  - match: {project_path: chaperone-ci/devstack-demo}\n    allow: [{provider: vault}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "host-state")
	jobState := filepath.Join(t.TempDir(), "job-state")
	runner.jobEnv = map[string]string{"CHAPERONE_STATE_DIR": state, "CHAPERONE_POLICY": strict}
	runner.env = append(runner.env,
		"CUSTOM_ENV_CHAPERONE_POLICY=version: 1\nrules:\n  - match: {iss: \".*\"}\n    allow: [{principal: \".*\"}]\n",
		"CUSTOM_ENV_CHAPERONE_STATE_DIR="+jobState)
	// The scopes the host's policy refuses are optional, so the job runs
	// without them.
	var optional []string
	for _, name := range []string{"repo", "deploy", "gcloud", "api", "azure"} {
		optional = append(optional, "  - name: "+name+"\n", "  - name: "+name+"\n    optional: true\n")
	}
	runner.editConfig(optional...)
	res := runner.stage("prepare")
	if res.code != 0 {
		t.Fatalf("prepare exit %d:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "scope repo refused (optional: the job runs without it): policy "+strict) {
		t.Errorf("the host's policy did not apply:\n%s", res.stderr)
	}
	if _, err := os.Stat(filepath.Join(state, "session.json")); err != nil {
		t.Errorf("session not in the host's directory: %v", err)
	}
	if _, err := os.Stat(jobState); !os.IsNotExist(err) {
		t.Errorf("the job's CHAPERONE_STATE_DIR was used: %v", err)
	}
	if res := runner.stage("cleanup"); res.code != 0 {
		t.Fatalf("cleanup exit %d:\n%s", res.code, res.stderr)
	}
	pred := bundlePredicate(t, filepath.Join(runner.dir, "chaperone.sigstore.json"))
	if len(pred.Grants) != 1 || pred.Grants[0].Provider != "vault" || len(pred.Refused) != 5 {
		t.Errorf("grants %+v, %d refused", pred.Grants, len(pred.Refused))
	}
}
