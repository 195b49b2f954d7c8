package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	stack "github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/masking"
	"gopkg.in/yaml.v3"
)

// The harness below plays GitHub's runner (actions/runner,
// src/Runner.Worker/Handlers/ContainerActionHandler.cs and
// FileCommandManager.cs) around `uses: ./` for one job, with the built
// chaperone in place of the action's image:
//   - a container action step runs as root in a private mount namespace
//     (runActionContainer) where the runner's directories are mounted as the runner
//     mounts them into the container: $RUNNER_TEMP/_github_home at
//     /github/home, _runner_file_commands at /github/file_commands,
//     _github_workflow at /github/workflow, the workspace at
//     /github/workspace (the working directory); its environment has the
//     inputs as INPUT_<NAME>, HOME=/github/home, RUNNER_TEMP as the host's
//     path, the file command paths translated into the container, the job's
//     GITHUB_ENV variables and, in the post step, main's GITHUB_STATE as
//     STATE_<name>;
//   - after each step the harness reads its file commands as the runner
//     does (GITHUB_ENV and GITHUB_OUTPUT and GITHUB_STATE heredocs,
//     GITHUB_PATH lines prepended to PATH, the step summary appended);
//   - a run: step is a shell on the host, as the runner's user (not root),
//     with the job's environment and PATH built from those files.
// The container's root filesystem is the host's (only /github differs):
// what matters here is the runner's contract, not the image.

// containerMountsEnv tells the test binary that the harness started it as
// a step's container, and where the runner's directories are.
const containerMountsEnv = "CHAPERONE_E2E_CONTAINER_MOUNTS"

func init() {
	if temp := os.Getenv(containerMountsEnv); temp != "" {
		runActionContainer(temp)
	}
}

// runActionContainer is the container of one container-action step: the
// harness runs this test binary in a new mount namespace with the step's
// environment and `-- ENTRYPOINT ARGS...`, and init calls this before any
// test machinery runs. It mounts the runner's directories under /github
// as the runner mounts them, enters /github/workspace and execs the entry
// point with the step's environment. It does not return.
func runActionContainer(temp string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "harness container:", err)
		os.Exit(126)
	}
	i := slices.Index(os.Args, "--")
	if i < 0 || i+1 >= len(os.Args) {
		fail(fmt.Errorf("no -- ENTRYPOINT in %q", os.Args))
	}
	argv := os.Args[i+1:]
	if err := syscall.Mount("tmpfs", "/github", "tmpfs", 0, "mode=0755"); err != nil {
		fail(err)
	}
	for dir, host := range map[string]string{"home": "_github_home", "workflow": "_github_workflow", "file_commands": "_runner_file_commands", "workspace": "workspace"} {
		if err := os.Mkdir("/github/"+dir, 0o755); err != nil {
			fail(err)
		}
		if err := syscall.Mount(filepath.Join(temp, host), "/github/"+dir, "", syscall.MS_BIND, ""); err != nil {
			fail(err)
		}
	}
	if err := os.Chdir("/github/workspace"); err != nil {
		fail(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, containerMountsEnv+"=") })
	fail(syscall.Exec(argv[0], argv, env))
}

// runnerUID is the runner's user in the harness: later steps run as it.
const runnerUID = 65534

// actionManifest is what the runner reads of the repository's action.yml.
type actionManifest struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using          string   `yaml:"using"`
		Image          string   `yaml:"image"`
		Args           []string `yaml:"args"`
		PostEntrypoint string   `yaml:"post-entrypoint"`
	} `yaml:"runs"`
}

func readActionManifest(t *testing.T) actionManifest {
	t.Helper()
	data, err := os.ReadFile("../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m actionManifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if m.Runs.Using != "docker" || !strings.HasPrefix(m.Runs.Image, "docker://") || m.Runs.PostEntrypoint == "" {
		t.Fatalf("action.yml is not a docker action with a published image and a post entry point: %+v", m.Runs)
	}
	return m
}

// actionRunner is one job on the harness runner.
type actionRunner struct {
	t         *testing.T
	manifest  actionManifest
	entry     map[string]string // stage → the executable the image runs for it
	jobStatus string            // job.status, for inputs that default to it
	temp      string            // RUNNER_TEMP on the host
	workspace string            // the workspace on the host
	base      map[string]string // what the runner gives every step (GITHUB_*, ACTIONS_ID_TOKEN_REQUEST_*)
	jobEnv    map[string]string // GITHUB_ENV so far
	paths     []string          // GITHUB_PATH so far, in order of addition
	state     map[string]string // main's GITHUB_STATE
	outputs   map[string]string // the action's outputs so far
	summary   string            // the job summary so far
}

// newActionRunner prepares a job's runner directories, owned by the
// runner's user as the runner creates them, and skips the test where the
// harness cannot mount them (it needs root).
func newActionRunner(t *testing.T, ds *devstack) *actionRunner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the container-action harness needs root: the action's container runs as root and mounts /github/*")
	}
	// The mount points' parent: an empty directory on the host, over which
	// each step mounts its own tmpfs inside its namespace.
	if err := os.MkdirAll("/github", 0o755); err != nil {
		t.Skipf("cannot create /github for the container mounts: %v", err)
	}
	temp, err := os.MkdirTemp("", "runner-temp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(temp) })
	r := &actionRunner{t: t, manifest: readActionManifest(t), jobStatus: "success", temp: temp,
		workspace: filepath.Join(temp, "workspace"), base: map[string]string{},
		jobEnv: map[string]string{}, state: map[string]string{}, outputs: map[string]string{}}
	// The image's entry points: chaperone itself (the image's ENTRYPOINT)
	// for main, and post-entrypoint, chaperone under that name, for post.
	post := filepath.Join(t.TempDir(), filepath.Base(r.manifest.Runs.PostEntrypoint))
	if err := os.Symlink(binary, post); err != nil {
		t.Fatal(err)
	}
	r.entry = map[string]string{"main": binary, "post": post}
	for _, d := range []string{"_github_home", "_github_workflow", "_runner_file_commands", "workspace"} {
		if err := os.Mkdir(filepath.Join(temp, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(temp, d), runnerUID, runnerUID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(temp, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range ds.env {
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "ACTIONS_") || k == "RUNNER_ENVIRONMENT" {
			r.base[k] = v
		}
	}
	r.base["CI"] = "true"
	r.base["GITHUB_ACTION"] = "__self"
	return r
}

// containerAction runs the action's entry point for stage (main or post)
// with action.yml's args, as the runner runs a container action, then
// processes its file commands. with are the step's inputs; the others
// get their defaults. Its stdout and stderr share one pipe, so their
// order is kept.
func (r *actionRunner) containerAction(stage string, with map[string]string) result {
	r.t.Helper()
	suffix := randomID()
	files := map[string]string{"GITHUB_ENV": "set_env_", "GITHUB_OUTPUT": "set_output_", "GITHUB_STATE": "save_state_",
		"GITHUB_PATH": "add_path_", "GITHUB_STEP_SUMMARY": "step_summary_"}
	env := map[string]string{}
	for k, v := range r.base {
		env[k] = v
	}
	for k, v := range r.jobEnv {
		env[k] = v
	}
	for name, prefix := range files {
		host := filepath.Join(r.temp, "_runner_file_commands", prefix+suffix)
		if err := os.WriteFile(host, nil, 0o644); err != nil {
			r.t.Fatal(err)
		}
		_ = os.Chown(host, runnerUID, runnerUID)
		env[name] = "/github/file_commands/" + prefix + suffix
	}
	for name, in := range r.manifest.Inputs {
		v, ok := with[name]
		if !ok {
			v = in.Default
			if strings.Contains(v, "${{") {
				if v != "${{ job.status }}" {
					r.t.Fatalf("input %s: the harness evaluates no default but ${{ job.status }} (%q)", name, v)
				}
				v = r.jobStatus
			}
		}
		env["INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))] = v
	}
	for name := range with {
		if _, ok := r.manifest.Inputs[name]; !ok {
			r.t.Fatalf("action.yml declares no input %q", name)
		}
	}
	if stage == "post" {
		for k, v := range r.state {
			env["STATE_"+k] = v
		}
	}
	env["HOME"] = "/github/home"
	env["RUNNER_TEMP"] = r.temp
	env["GITHUB_WORKSPACE"] = "/github/workspace"
	env["PATH"] = os.Getenv("PATH")
	// The container: this test binary, re-executed in a new mount
	// namespace, mounts the runner's directories and execs the entry point
	// with exactly env (a shell in between would drop INPUT_FULCIO-URL and
	// the other names with a '-', which docker passes on).
	cmd := exec.Command(os.Args[0], append([]string{"--", r.entry[stage]}, r.manifest.Runs.Args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	env[containerMountsEnv] = r.temp
	res := r.exec(cmd, env)
	read := func(prefix string) string {
		data, err := os.ReadFile(filepath.Join(r.temp, "_runner_file_commands", prefix+suffix))
		if err != nil {
			r.t.Fatal(err)
		}
		return string(data)
	}
	for k, v := range parseFileCommand(r.t, read("set_env_")) {
		r.jobEnv[k] = v
	}
	for k, v := range parseFileCommand(r.t, read("set_output_")) {
		r.outputs[k] = v
	}
	if stage == "main" {
		r.state = parseFileCommand(r.t, read("save_state_"))
	}
	for _, line := range strings.Split(read("add_path_"), "\n") {
		if line != "" {
			r.paths = append(r.paths, line)
		}
	}
	r.summary += read("step_summary_")
	return res
}

// runStep runs a run: step's script with sh on the host, as the runner's
// user, with the job's environment plus extra.
func (r *actionRunner) runStep(script string, extra map[string]string) result {
	r.t.Helper()
	env := map[string]string{}
	for k, v := range r.base {
		env[k] = v
	}
	for k, v := range r.jobEnv {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	path := slices.Clone(r.paths)
	slices.Reverse(path) // the runner prepends each entry: the last added comes first
	env["PATH"] = strings.Join(append(path, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ":")
	env["HOME"] = filepath.Join(r.temp, "_github_home")
	env["RUNNER_TEMP"] = r.temp
	env["GITHUB_WORKSPACE"] = r.workspace
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir = r.workspace
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: runnerUID, Gid: runnerUID}}
	return r.exec(cmd, env)
}

func (r *actionRunner) exec(cmd *exec.Cmd, env map[string]string) result {
	r.t.Helper()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		r.t.Fatalf("%v timed out:\n%s", cmd.Args, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return result{code: code, stdout: out.String()}
}

// parseFileCommand reads a GITHUB_ENV-format file as the runner does:
// NAME=value lines and NAME<<DELIMITER heredocs.
func parseFileCommand(t *testing.T, text string) map[string]string {
	t.Helper()
	vals, _ := parseFileCommandDelims(t, text)
	return vals
}

func parseFileCommandDelims(t *testing.T, text string) (map[string]string, []string) {
	t.Helper()
	vals := map[string]string{}
	var delims []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		if eq >= 0 && (hd < 0 || eq < hd) {
			vals[line[:eq]] = line[eq+1:]
			continue
		}
		if hd <= 0 {
			t.Fatalf("file command line %q is neither NAME=value nor NAME<<DELIMITER", line)
		}
		name, delim := line[:hd], line[hd+2:]
		delims = append(delims, delim)
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("file command %s: no closing delimiter", name)
		}
		vals[name] = strings.Join(val, "\n")
	}
	return vals, delims
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// assertMaskedFirst checks a step's output: every ::add-mask:: line comes
// before any other line, and no secret appears outside those lines. It
// returns the registered values.
func assertMaskedFirst(t *testing.T, out string, secrets []string) map[string]bool {
	t.Helper()
	masks := map[string]bool{}
	other := false
	var rest []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := masking.ParseAddMask(line); ok && strings.HasPrefix(line, "::add-mask::") {
			if other {
				t.Errorf("an ::add-mask:: line comes after other output")
			}
			masks[v] = true
			continue
		}
		if line != "" {
			other = true
			rest = append(rest, line)
		}
	}
	assertNoSecrets(t, secrets, strings.Join(rest, "\n"))
	return masks
}

// TestActionHarness runs the action's main step, a later run: step and the
// post step on the harness runner against devstack.
func TestActionHarness(t *testing.T) {
	ds := startDevstack(t, "github")
	seeded := ds.seededSecrets(t)
	r := newActionRunner(t, ds)
	if err := os.MkdirAll(filepath.Join(r.workspace, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(r.workspace, "dist", "app.tar.gz")
	if err := os.WriteFile(artifact, []byte("the build's output\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{"config": ds.env["CHAPERONE_CONFIG"], "subjects": "dist/*.tar.gz"}

	main := r.containerAction("main", inputs)
	if main.code != 0 {
		t.Fatalf("main exit %d:\n%s", main.code, main.stdout)
	}
	// GITHUB_ENV carries the credentials, each with a random delimiter.
	raw, err := os.ReadDir(filepath.Join(r.temp, "_runner_file_commands"))
	if err != nil {
		t.Fatal(err)
	}
	var delims []string
	for _, e := range raw {
		if strings.HasPrefix(e.Name(), "set_env_") {
			data, _ := os.ReadFile(filepath.Join(r.temp, "_runner_file_commands", e.Name()))
			_, d := parseFileCommandDelims(t, string(data))
			delims = append(delims, d...)
		}
	}
	delimRE := regexp.MustCompile(`^ghadelimiter_[0-9a-f]{32}$`)
	for i, d := range delims {
		if !delimRE.MatchString(d) || slices.Contains(delims[:i], d) {
			t.Errorf("GITHUB_ENV delimiter %q is not a fresh random one", d)
		}
	}
	credNames := []string{"GITHUB_TOKEN", "DB_PASSWORD", "DB_USERNAME", "API_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "API_ACCESS_TOKEN"}
	var creds []string
	for _, name := range credNames {
		v := r.jobEnv[name]
		if v == "" {
			t.Fatalf("GITHUB_ENV has no %s (has %v)", name, keys(r.jobEnv))
		}
		creds = append(creds, v)
	}
	for _, name := range []string{"DB_PASSWORD", "API_TOKEN"} {
		if !slices.Contains(seeded, r.jobEnv[name]) {
			t.Errorf("%s is not the Vault stand-in's secret", name)
		}
	}
	secrets := append(append(slices.Clone(creds), seeded...), ds.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	// Every secret is registered before anything else is printed, with
	// its encoded forms.
	masks := assertMaskedFirst(t, main.stdout, secrets)
	for i, v := range creds {
		if !masks[v] {
			t.Errorf("%s reached GITHUB_ENV without ::add-mask::", credNames[i])
		}
		enc := base64.StdEncoding.EncodeToString([]byte(v))
		encoded := false
		for m := range masks {
			encoded = encoded || (len(m) >= 8 && m != v && strings.Contains(enc, m))
		}
		if !encoded {
			t.Errorf("%s's base64 form was not registered", credNames[i])
		}
	}
	if r.outputs["identity"] == "" || r.outputs["scopes"] != "db,repo,deploy,gcloud,api,azure" {
		t.Errorf("main's outputs: %v", r.outputs)
	}
	if r.state["key"] == "" || r.state["dir"] != "/github/home/.chaperone/state-__self" {
		t.Errorf("main's GITHUB_STATE: dir %q, key set %v", r.state["dir"], r.state["key"] != "")
	}
	assertNoSecrets(t, secrets, r.outputs["identity"], r.outputs["scopes"])
	wantPath := filepath.Join(r.temp, "_github_home", ".chaperone", "bin")
	if !slices.Equal(r.paths, []string{wantPath}) {
		t.Errorf("GITHUB_PATH %v, want the host path %s", r.paths, wantPath)
	}

	// A later run: step, as the runner's user: the installed chaperone is
	// on PATH, the GitHub token works against the API stand-in, and the
	// sealed session is out of its reach.
	later := r.runStep(`chaperone version
curl -fsS -H "Authorization: Bearer $GITHUB_TOKEN" "$API/installation/repositories" >/dev/null && echo token-accepted
if cat "$HOME/.chaperone/state-__self/session.sealed" >/dev/null 2>&1; then echo state-readable; fi
if ls "$HOME/.chaperone/state-__self" >/dev/null 2>&1; then echo state-listable; fi
`, map[string]string{"API": ds.env["CHAPERONE_DEVSTACK_GITHUB_API_URL"]})
	if later.code != 0 || !strings.Contains(later.stdout, "token-accepted") {
		t.Errorf("later step exit %d:\n%s", later.code, later.stdout)
	}
	if strings.Contains(later.stdout, "state-") {
		t.Errorf("a later step as the runner's user reached the sealed session:\n%s", later.stdout)
	}

	// A later step can run `chaperone run` with endpoint delivery, which
	// the action's container could not serve.
	endpointConfig := strings.Join([]string{
		"version: 1",
		"scopes:",
		"  - name: deploy",
		"    provider: aws",
		"    role-arn: " + stack.AWSRoleARN,
		"    region: us-east-1",
		"    endpoint: " + ds.env["CHAPERONE_DEVSTACK_STS_URL"],
		"    audience: " + stack.Audience,
		"    duration: 15m",
		"    deliver: endpoint",
		"attest: {signer: none}",
	}, "\n") + "\n"
	viaRun := r.runStep(`chaperone run -- sh -c 'curl -fsS -H "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"' | grep -q '"AccessKeyId":"\*\*\*"' && echo endpoint-served`,
		map[string]string{"CHAPERONE_CONFIG": endpointConfig})
	if viaRun.code != 0 || !strings.Contains(viaRun.stdout, "endpoint-served") {
		t.Errorf("chaperone run with endpoint delivery in a later step: exit %d\n%s", viaRun.code, viaRun.stdout)
	}

	post := r.containerAction("post", inputs)
	if post.code != 0 {
		t.Fatalf("post exit %d:\n%s", post.code, post.stdout)
	}
	assertNoSecrets(t, secrets, post.stdout, r.summary)
	// Every revocable grant is revoked at its issuer; the test's own
	// Vault login and the later step's run are not the action's.
	assertRevoked(t, ds, 1)
	if got := tableRows(r.summary); got != 6 {
		t.Errorf("summary has %d grant rows, want 6:\n%s", got, r.summary)
	}
	for _, want := range []string{"| db | vault |", "| deploy | aws |", "revoked at", "not revocable", "chaperone verify", "cosign verify-blob-attestation"} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.summary)
		}
	}
	if r.outputs["bundle"] != "chaperone.sigstore.json" {
		t.Fatalf("bundle output %q", r.outputs["bundle"])
	}
	if _, err := os.Stat(filepath.Join(r.temp, "_github_home", ".chaperone", "state-__self")); !os.IsNotExist(err) {
		t.Errorf("the sealed session outlived post: %v", err)
	}
	bundle := filepath.Join(r.workspace, r.outputs["bundle"])
	pred := bundlePredicate(t, bundle)
	if pred.Outcome != "success" || len(pred.Grants) != 6 {
		t.Errorf("attested outcome %q with %d grants", pred.Outcome, len(pred.Grants))
	}
	raw2, _ := os.ReadFile(bundle)
	assertNoSecrets(t, secrets, decodePayload(t, raw2))

	// The bundle verifies, for its declared artifact and its job subject,
	// with chaperone and with stock cosign.
	pub := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]
	if v := chaperone(t, r.workspace, nil, "verify", bundle, "--key", pub, "--artifact", artifact, "--require-revoked"); v.code != 0 {
		t.Errorf("chaperone verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	cosignBin := cosign(t)
	digest := attest.JobSubject(pred.Job.RunURI).Digest["sha256"]
	if !strings.Contains(r.summary, digest) {
		t.Errorf("the summary does not name the job subject %s", digest)
	}
	out, err := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--insecure-ignore-tlog",
		"--trusted-root", emptyTrustedRoot(t, cosignBin, t.TempDir()), "--key", pub, "--bundle", bundle,
		"--type", attest.PredicateTypeJob, "--digest", digest, "--digestAlg", "sha256").CombinedOutput()
	if err != nil {
		t.Errorf("cosign verify-blob-attestation: %v\n%s", err, out)
	}
}

// TestActionHarnessRefusesTamperedState replaces or alters the sealed
// session between main and post: post refuses it, revokes and attests
// nothing from it, and fails the step.
func TestActionHarnessRefusesTamperedState(t *testing.T) {
	cases := []struct {
		name, want string
		tamper     func(r *actionRunner)
	}{
		{"replaced by a later step", "owned by uid 65534", func(r *actionRunner) {
			// The runner's user cannot write into the root-owned
			// directories, but owns the home: it moves them aside and
			// plants its own.
			res := r.runStep(`cd "$HOME"
mv .chaperone .chaperone.old
mkdir -p .chaperone/state-__self
chmod 700 .chaperone/state-__self
printf forged > .chaperone/state-__self/session.sealed
chmod 600 .chaperone/state-__self/session.sealed`, nil)
			if res.code != 0 {
				r.t.Fatalf("tampering step: exit %d\n%s", res.code, res.stdout)
			}
		}},
		{"modified as root", "modified or replaced", func(r *actionRunner) {
			// A step with sudo can write the file; it cannot make a
			// sealed state that matches the key the runner holds.
			path := filepath.Join(r.temp, "_github_home", ".chaperone", "state-__self", "session.sealed")
			data, err := os.ReadFile(path)
			if err != nil {
				r.t.Fatal(err)
			}
			data[len(data)-1] ^= 0x01
			if err := os.WriteFile(path, data, 0o600); err != nil {
				r.t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := startDevstack(t, "github")
			r := newActionRunner(t, ds)
			inputs := map[string]string{"config": ds.env["CHAPERONE_CONFIG"], "scopes": "db,repo"}
			if main := r.containerAction("main", inputs); main.code != 0 {
				t.Fatalf("main exit %d:\n%s", main.code, main.stdout)
			}
			tc.tamper(r)
			post := r.containerAction("post", inputs)
			if post.code == 0 || !strings.Contains(post.stdout, tc.want) || !strings.Contains(post.stdout, "::error::") {
				t.Errorf("post of a tampered session: exit %d, want a failure saying %q:\n%s", post.code, tc.want, post.stdout)
			}
			if _, err := os.Stat(filepath.Join(r.workspace, "chaperone.sigstore.json")); !os.IsNotExist(err) {
				t.Errorf("post attested from a session it refused (%v)", err)
			}
			if r.outputs["bundle"] != "" || tableRows(r.summary) != 0 || !strings.Contains(r.summary, "did not stop the session") {
				t.Errorf("post of a tampered session: bundle output %q, summary:\n%s", r.outputs["bundle"], r.summary)
			}
			// Nothing was revoked from the forged state (the grants end
			// with their lifetimes, as the summary says).
			for _, c := range ds.credentials(t) {
				if c.Revoked {
					t.Errorf("%s credential revoked from a refused state", c.Provider)
				}
			}
		})
	}
}

// tableRows counts the body rows of the summary's grant table.
func tableRows(md string) int {
	n := 0
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| Scope ") {
			n++
		}
	}
	return n
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
