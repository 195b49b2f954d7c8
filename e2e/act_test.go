package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	stack "github.com/chaperone-ci/chaperone/internal/devstack"
)

// TestActWorkflow runs a real workflow with nektos/act v0.2.89 on a real
// Docker engine against devstack: `uses: ./` is the action of the working
// tree (its action.yml, unchanged) with the image built from the
// repository's Dockerfile. act differs from GitHub's runner where
// docs/github.md says (no STATE_* for a container action's post step, its
// own mounts); TestActionHarness covers GitHub's contract.
//
// .ci/run starts the engine, builds the image and sets DOCKER_HOST,
// CHAPERONE_ACT, CHAPERONE_ACTION_IMAGE and CHAPERONE_JOB_IMAGE; without
// them the test is skipped.
func TestActWorkflow(t *testing.T) {
	act, actionImage, jobImage := os.Getenv("CHAPERONE_ACT"), os.Getenv("CHAPERONE_ACTION_IMAGE"), os.Getenv("CHAPERONE_JOB_IMAGE")
	if os.Getenv("DOCKER_HOST") == "" || act == "" || actionImage == "" || jobImage == "" {
		t.Skip("needs a Docker engine and nektos/act: DOCKER_HOST, CHAPERONE_ACT, CHAPERONE_ACTION_IMAGE and CHAPERONE_JOB_IMAGE (.ci/run sets them as root)")
	}
	// Asked for and not there is a failure, not a skip: CI must not pass
	// by losing its engine.
	if out, err := exec.Command("docker", "version").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine at DOCKER_HOST does not answer: %v\n%s", err, out)
	}
	if _, err := os.Stat(act); err != nil {
		t.Fatalf("act: %v", err)
	}
	// The workflow uses action.yml as it is: its image is the local build
	// under the name action.yml gives (act does not pull it).
	named := strings.TrimPrefix(readActionManifest(t).Runs.Image, "docker://")
	if named != actionImage {
		if out, err := exec.Command("docker", "tag", actionImage, named).CombinedOutput(); err != nil {
			t.Fatalf("docker tag %s %s: %v\n%s", actionImage, named, err, out)
		}
	}

	ds := startDevstack(t, "github")
	seeded := ds.seededSecrets(t)
	repo := actRepository(t, ds)
	commands := filepath.Join(t.TempDir(), "file-commands")
	if err := os.Mkdir(commands, 0o755); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "act.env")
	tokenEnv := "ACTIONS_ID_TOKEN_REQUEST_URL=" + ds.env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "\n" +
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + ds.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] + "\n"
	if err := os.WriteFile(envFile, []byte(tokenEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, act, "push",
		"-W", ".github/workflows/chaperone.yml",
		"-P", "ubuntu-latest="+jobImage, "--pull=false",
		"--no-cache-server", "--network", "host", "--container-daemon-socket", "-",
		// The token request variables (as --env, from a file: not in argv).
		"--env-file", envFile,
		// The workspace is this directory, so the bundle lands here.
		"--bind",
		// act's file-command directory, mounted from the host in every
		// container of the job, so the test reads the post step's job
		// summary (act keeps it in a volume it removes).
		"--container-options", "-v "+commands+":/var/run/act/workflow",
	)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "ACT_DISABLE_VERSION_CHECK=1")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	if err != nil {
		t.Fatalf("act: %v\n%s", err, log.String())
	}
	out := log.String()

	// The later step received the credentials main exported, and wrote
	// them (not into the log) for the scan below.
	received := parseFileCommand(t, readFile(t, filepath.Join(repo, "received.env")))
	var issued []string
	for _, name := range []string{"GITHUB_TOKEN", "DB_PASSWORD", "DB_USERNAME", "API_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "API_ACCESS_TOKEN"} {
		if received[name] == "" {
			t.Errorf("the later step did not receive %s", name)
		}
		issued = append(issued, received[name])
	}
	for _, want := range []string{"github-token-accepted", "UserId", "printed: ***"} {
		if !strings.Contains(out, want) {
			t.Errorf("act's log lacks %q:\n%s", want, out)
		}
	}
	// act's whole log: no value the job was issued, no seeded secret, no
	// token-request secret.
	assertNoSecrets(t, append(append(issued, seeded...), ds.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]), out)

	// Post revoked every revocable grant (the test's own Vault login is
	// the one left), and summarised one row per grant.
	assertRevoked(t, ds, 1)
	summary := readFile(t, filepath.Join(commands, "SUMMARY.md"))
	if got := tableRows(summary); got != 6 {
		t.Errorf("job summary has %d grant rows, want 6:\n%s", got, summary)
	}
	bundle := filepath.Join(repo, "chaperone.sigstore.json")
	pred := bundlePredicate(t, bundle)
	// act gives a container action's post step no input defaults, so
	// post has no job-status (${{ job.status }} on GitHub's runner): the
	// outcome is unknown, never a success nobody reported.
	if pred.Outcome != attest.OutcomeUnknown || len(pred.Grants) != 6 {
		t.Errorf("attested outcome %q (want %q under act), %d grants", pred.Outcome, attest.OutcomeUnknown, len(pred.Grants))
	}
	cosignBin := cosign(t)
	digest := attest.JobSubject(pred.Job.RunURI).Digest["sha256"]
	verify := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--insecure-ignore-tlog",
		"--trusted-root", emptyTrustedRoot(t, cosignBin, t.TempDir()), "--key", ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"],
		"--bundle", bundle, "--type", attest.PredicateTypeJob, "--digest", digest, "--digestAlg", "sha256")
	if vout, err := verify.CombinedOutput(); err != nil {
		t.Errorf("cosign verify-blob-attestation: %v\n%s", err, vout)
	}
}

// actRepository writes the repository act runs: the working tree's
// action.yml, chaperone's config (the devstack's, signing with a copy of
// its key in the workspace, which is what the containers see) and the
// workflow.
func actRepository(t *testing.T, ds *devstack) string {
	t.Helper()
	repo := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		path := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("action.yml", readFile(t, "../action.yml"), 0o644)
	write("signing-key.pem", readFile(t, ds.env["CHAPERONE_DEVSTACK_SIGNING_KEY"]), 0o600)
	config := strings.Replace(readFile(t, ds.env["CHAPERONE_CONFIG"]),
		"signer: key:"+ds.env["CHAPERONE_DEVSTACK_SIGNING_KEY"], "signer: key:signing-key.pem", 1)
	if !strings.Contains(config, "key:signing-key.pem") {
		t.Fatalf("devstack config signs otherwise:\n%s", config)
	}
	write(".chaperone.yml", config, 0o644)
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
	}, "\n")
	write(".github/workflows/chaperone.yml", `on: push
jobs:
  chaperone:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: actions/checkout@v4
      - id: chaperone
        uses: ./
      - name: The credentials reach a later step
        env:
          API: `+ds.env["CHAPERONE_DEVSTACK_GITHUB_API_URL"]+`
        run: |
          curl -fsS -H "Authorization: Bearer $GITHUB_TOKEN" "$API/installation/repositories" >/dev/null
          echo github-token-accepted
          echo "printed: $DB_PASSWORD"
          for name in GITHUB_TOKEN DB_PASSWORD DB_USERNAME API_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN API_ACCESS_TOKEN; do
            printf '%s<<EOF_%s\n%s\nEOF_%s\n' "$name" "$name" "$(printenv "$name")" "$name"
          done >received.env
      - name: AWS through chaperone run and the credential endpoint
        env:
          STS: `+ds.env["CHAPERONE_DEVSTACK_STS_URL"]+`
          CHAPERONE_CONFIG: |
`+indent(endpointConfig, "            ")+`
        run: chaperone run -- aws sts get-caller-identity --endpoint-url "$STS"
`, 0o644)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"remote", "add", "origin", "https://github.com/" + stack.Repository + ".git"},
		{"add", "-A"},
		{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "commit", "-q", "-m", "workflow"},
	} {
		c := exec.Command("git", args...)
		c.Dir = repo
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return repo
}

func indent(text, prefix string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
