package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shellJob runs a job's scripts as GitLab Runner's shell executor does:
// before_script and script in one shell process fed the script on its
// stdin, each line echoed first and `set -eo pipefail` (bash) or `set -e`
// (sh) on top; after_script in a new process once the first has exited,
// with CI_JOB_STATUS. stdout and stderr share one pipe, which is the job
// log; the runner reads it to its end.
type shellJob struct {
	t     *testing.T
	dir   string // the job's working directory (the checkout)
	shell string
	env   []string
}

func newShellJob(t *testing.T, ds *devstack, shell string) *shellJob {
	j := &shellJob{t: t, dir: t.TempDir(), shell: shell}
	// chaperone on PATH; the user's own runtime directory, where start,
	// mask and stop meet by default.
	j.env = []string{"PATH=" + filepath.Dir(binary) + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_RUNTIME_DIR=" + t.TempDir()}
	for k, v := range ds.env {
		if !strings.HasPrefix(k, "CHAPERONE_DEVSTACK_") {
			j.env = append(j.env, k+"="+v)
		}
	}
	return j
}

// run runs lines as one script of the job and returns its log and status.
func (j *shellJob) run(extraEnv []string, lines ...string) (string, int) {
	j.t.Helper()
	script := "set -eo pipefail\n"
	if j.shell == "sh" {
		script = "set -e\n" // dash has no pipefail
	}
	script += "set +o noclobber\n"
	for _, l := range lines {
		script += "printf '%s\\n' " + shellWord("$ "+l) + "\n" + l + "\n"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.shell)
	cmd.Dir, cmd.Env = j.dir, append(append([]string(nil), j.env...), extraEnv...)
	cmd.Stdin = strings.NewReader(script)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		j.t.Fatalf("job script: %v (a masker that never ends?)\n%s", err, log.String())
	}
	return log.String(), code
}

// shellWord quotes s as one word for a POSIX shell.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// forms are the ways the job prints a secret: raw, base64, inside JSON.
func forms(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		js, _ := json.Marshal(s)
		out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)), string(js[1:len(js)-1]))
	}
	return out
}

// credentialVars are the variables devstack's generated config delivers
// that hold secrets.
var credentialVars = []string{"DB_PASSWORD", "DB_USERNAME", "API_TOKEN", "GITHUB_TOKEN", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "API_ACCESS_TOKEN", "AZURE_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"}

// jobSecrets reads the credential values a job saw from the environment
// dump it wrote beside the log.
func jobSecrets(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the job wrote no environment: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		for _, name := range credentialVars {
			if k == name && v != "" {
				out = append(out, v)
			}
		}
	}
	if len(out) != len(credentialVars) {
		t.Fatalf("the job saw %d of %d credential variables", len(out), len(credentialVars))
	}
	return out
}

// printSecrets are the job's lines that print every credential raw, in
// base64 and inside JSON, on stdout and stderr, then leave a background
// process for `wait`.
func printSecrets(envDump string) []string {
	return []string{
		"env > " + shellWord(envDump),
		`for name in ` + strings.Join(credentialVars, " ") + `; do eval "value=\$$name"; printf '%s raw %s\n' "$name" "$value"; printf '%s' "$value" | base64 -w0; echo; jq -cn --arg v "$value" --arg n "$name" '{($n): $v}'; printf '%s on stderr %s\n' "$name" "$value" >&2; done`,
		"sleep 0.2 & wait",
	}
}

// before_script: `eval "$(chaperone start --shell bash)"` exports the
// credentials and masks everything the job prints after it, in bash, in
// bash with GitLab's debug trace (set -x, which prints what eval is given)
// and in sh; after_script's `chaperone stop` waits for the masker, revokes
// every revocable credential and attests the job's CI_JOB_STATUS.
func TestGitLabBeforeScriptMasksTheJob(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	seeded := ds.seededSecrets(t)
	for _, tc := range []struct {
		name, shell, trace string
	}{
		{"bash", "bash", ""},
		{"bash debug trace", "bash", "set -x"},
		{"sh", "sh", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := newShellJob(t, ds, tc.shell)
			envDump := filepath.Join(t.TempDir(), "job.env")
			lines := []string{}
			if tc.trace != "" {
				lines = append(lines, tc.trace)
			}
			lines = append(lines, `eval "$(chaperone start --shell `+tc.shell+`)"`)
			lines = append(lines, printSecrets(envDump)...)
			lines = append(lines, "echo tests failed", "exit 3")
			log, code := job.run(nil, lines...)
			secrets := append(jobSecrets(t, envDump), seeded...)
			if code != 3 {
				t.Fatalf("job exit %d, want its own 3:\n%s", code, scrub(log, secrets))
			}
			assertNoSecrets(t, forms(secrets), log)
			for _, want := range []string{"DB_PASSWORD raw [MASKED]", "GITHUB_TOKEN on stderr [MASKED]", `{"AWS_SECRET_ACCESS_KEY":"[MASKED]"}`, "tests failed"} {
				if !strings.Contains(log, want) {
					t.Errorf("job log lacks %q:\n%s", want, scrub(log, secrets))
				}
			}

			// While the session is open, `chaperone mask` with no
			// --state-dir masks its secrets (with mask's own token).
			mask := exec.Command(binary, "mask")
			mask.Dir, mask.Env = job.dir, job.env
			mask.Stdin = strings.NewReader("a " + secrets[0] + " b\n")
			out, err := mask.Output()
			if err != nil || string(out) != "a *** b\n" {
				t.Errorf("mask without --state-dir: %q, %v", scrub(string(out), secrets), err)
			}

			// after_script: a new shell, after the first one ended.
			log, code = job.run([]string{"CI_JOB_STATUS=failed"}, "chaperone stop")
			if code != 0 {
				t.Fatalf("after_script exit %d:\n%s", code, scrub(log, secrets))
			}
			assertNoSecrets(t, forms(secrets), log)
			pred := bundlePredicate(t, filepath.Join(job.dir, "chaperone.sigstore.json"))
			if pred.Outcome != "failure" || len(pred.Steps) != 0 {
				t.Errorf("outcome %q with %d steps, want CI_JOB_STATUS's failure", pred.Outcome, len(pred.Steps))
			}
			// 10 credentials, each printed raw, in base64, in JSON and on
			// stderr, through the masker.
			if pred.Masking.Redactions < 4*len(credentialVars) {
				t.Errorf("attested %d redactions, want the masker's ≥ %d", pred.Masking.Redactions, 4*len(credentialVars))
			}
			if entries, _ := filepath.Glob(filepath.Join(envValue(job.env, "XDG_RUNTIME_DIR"), "chaperone", "*")); len(entries) != 0 {
				t.Errorf("stop left %v", entries)
			}
		})
	}
	assertRevoked(t, ds, 1)
}

// eval "$(cmd)" ignores cmd's status: a start that fails prints what ends
// the job, with its reason in the log. A second start while a session is
// open is such a failure, and leaves the first session's credentials for
// after_script's stop.
func TestGitLabBeforeScriptFailedStartFailsTheJob(t *testing.T) {
	ds := startDevstack(t, "gitlab")
	t.Run("bad config", func(t *testing.T) {
		job := newShellJob(t, ds, "bash")
		log, code := job.run([]string{"CHAPERONE_CONFIG=version: 1\nscopez: []\n"}, `eval "$(chaperone start --shell bash)"`, "echo the job went on")
		if code != 2 || strings.Contains(log, "the job went on") || !strings.Contains(log, "scopez") {
			t.Errorf("job exit %d, want start's 2 before the next line, and the reason:\n%s", code, log)
		}
	})
	t.Run("second start", func(t *testing.T) {
		job := newShellJob(t, ds, "bash")
		start := `eval "$(chaperone start --shell bash)"`
		log, code := job.run(nil, start, start, "echo the job went on")
		if code != 2 || strings.Contains(log, "the job went on") || !strings.Contains(log, "already open") {
			t.Errorf("job exit %d, want start's 2 before the next line, and the reason:\n%s", code, log)
		}
		log, code = job.run([]string{"CI_JOB_STATUS=failed"}, "chaperone stop")
		if code != 0 {
			t.Fatalf("after_script exit %d:\n%s", code, log)
		}
	})
	assertRevoked(t, ds, 0)
}

// scrub replaces every form of the secrets in a log that a failure
// message prints.
func scrub(log string, secrets []string) string {
	for _, f := range forms(secrets) {
		log = strings.ReplaceAll(log, f, "<secret>")
	}
	return log
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
