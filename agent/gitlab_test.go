package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

func TestCustomExecutorEnvPrefersJobVariables(t *testing.T) {
	getenv := CustomExecutorEnv([]string{
		"CI_JOB_ID=host-value", "CUSTOM_ENV_CI_JOB_ID=42",
		"PATH=/usr/bin", "CUSTOM_ENV_GITLAB_CI=true", "CUSTOM_ENV_EMPTY=", "NOEQUALS",
	})
	for name, want := range map[string]string{
		"CI_JOB_ID": "42",       // the job's, not the host's
		"PATH":      "/usr/bin", // the host's, as the job sets none
		"GITLAB_CI": "true",
		"EMPTY":     "",
		"MISSING":   "",
		"NOEQUALS":  "",
	} {
		if got := getenv(name); got != want {
			t.Errorf("getenv(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestNewExecutorConfig(t *testing.T) {
	cfg, err := NewExecutorConfig("/builds", "/cache", "/var/lib/chaperone", "123", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JobEnv["CHAPERONE_STATE_DIR"] != "/var/lib/chaperone/chaperone-gitlab-job-123" || cfg.Shell != "bash" ||
		cfg.BuildsDir != "/builds" || cfg.Driver.Version != "v1.2.3" {
		t.Errorf("config %+v", cfg)
	}
	// A job id that could name another directory is refused.
	for _, id := range []string{"", "../123", "1/2", "."} {
		_, err := NewExecutorConfig("/builds", "/cache", "/tmp", id, "dev")
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "not a job id") {
			t.Errorf("job id %q: %v", id, err)
		}
	}
}

func TestMaskTokenIsGitLabsOnGitLab(t *testing.T) {
	for env, want := range map[string]string{"true": "a [MASKED] b", "": "a *** b"} {
		set := newMaskSet(MaskConfig{}, func(name string) string {
			if name == "GITLAB_CI" {
				return env
			}
			return ""
		})
		set.Add("s3cret-value")
		if got := set.MaskString("a s3cret-value b"); got != want {
			t.Errorf("GITLAB_CI=%q: %q, want %q", env, got, want)
		}
	}
	// A configured token wins.
	set := newMaskSet(MaskConfig{Token: "<hidden>"}, func(string) string { return "true" })
	set.Add("s3cret-value")
	if got := set.MaskString("s3cret-value"); got != "<hidden>" {
		t.Errorf("configured token: %q", got)
	}
}

func TestJobIDFromResponse(t *testing.T) {
	dir := t.TempDir()
	write := func(doc string) string {
		path := filepath.Join(dir, "job.json")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if id, err := JobIDFromResponse(write(`{"id": 62179596711, "token": "x", "variables": []}`)); err != nil || id != "62179596711" {
		t.Errorf("id %q, %v", id, err)
	}
	for doc, want := range map[string]string{
		`{"id": "../1"}`:                      "not the job's JSON",
		`{"id": 1.5}`:                         "no numeric job id",
		`{"token": "x"}`:                      "no numeric job id",
		`not json`:                            "not the job's JSON",
		`{"token": "glcbt-SECRETX", "id": x}`: "not the job's JSON",
	} {
		if _, err := JobIDFromResponse(write(doc)); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want %q and no byte of the file", doc, err, want)
		}
	}
	var cfgErr *ConfigError
	if _, err := JobIDFromResponse(""); !errors.As(err, &cfgErr) {
		t.Errorf("no file: %v", err)
	}
}

func TestIsUserScriptStage(t *testing.T) {
	for stage, want := range map[string]bool{
		"build_script": true, "step_script": true, "step_release": true, "after_script": true,
		"prepare_script": false, "get_sources": false, "clear_worktree": false, "restore_cache": false,
		"download_artifacts": false, "archive_cache": false, "archive_cache_on_failure": false,
		"upload_artifacts_on_success": false, "upload_artifacts_on_failure": false,
		"cleanup_file_variables": false, "prepare_executor": false, "": false, "build": false,
	} {
		if got := IsUserScriptStage(stage); got != want {
			t.Errorf("%q: %v, want %v", stage, got, want)
		}
	}
}

func TestExecutorEnvironDropsTheDriversHandles(t *testing.T) {
	got := ExecutorEnviron([]string{"PATH=/bin", "CHAPERONE_STATE_DIR=/s", "JOB_RESPONSE_FILE=/j", "CUSTOM_ENV_CI_JOB_ID=1"})
	if strings.Join(got, " ") != "PATH=/bin CUSTOM_ENV_CI_JOB_ID=1" {
		t.Errorf("%v", got)
	}
}

// Only the job's own script stages get its credentials: the runner's
// stages (sources, caches, artifacts) run without the delivered variables
// and without the delivered files, which exist only while a user script
// stage runs. Every stage's output is masked and recorded as a step.
func TestExecutorStagesWithholdCredentials(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab})
	s, _ := newTestSession(t, st, "    env: GITHUB_TOKEN\n", "    env: GITHUB_TOKEN\n    deliver: file\n")
	s.opts.StateDir = filepath.Join(t.TempDir(), "state")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the delivered files go
	if err := s.BeginExecutorJob(context.Background()); err != nil {
		t.Fatal(err)
	}
	secrets := grantSecrets(s)
	evidence := t.TempDir()
	// Each stage writes what it can see (its environment, every file in
	// the delivery directory's parent) where the masker does not reach,
	// and prints a credential.
	seen := func(stage string) string {
		script := filepath.Join(t.TempDir(), stage+".sh")
		body := "set -eo pipefail\n{ env; find " + quoteWord(tmp) + " -type f -exec cat {} +; } >" + quoteWord(filepath.Join(evidence, stage)) +
			"\nprintf 'db=%s\\n' \"${DB_PASSWORD:-none}\"\n"
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code, err := s.RunExecutorStage(context.Background(), stage, script, &out, &out)
		if err != nil || code != 0 {
			t.Fatalf("%s: exit %d, %v\n%s", stage, code, err, out.String())
		}
		want := "db=none\n"
		if IsUserScriptStage(stage) {
			want = "db=[MASKED]\n"
		}
		if out.String() != want {
			t.Errorf("%s printed %q, want %q", stage, out.String(), want)
		}
		data, err := os.ReadFile(filepath.Join(evidence, stage))
		if err != nil {
			t.Fatalf("%s wrote no evidence: %v", stage, err)
		}
		return string(data)
	}
	for _, stage := range []string{"prepare_script", "get_sources", "build_script", "after_script", "upload_artifacts_on_success", "cleanup_file_variables"} {
		got := seen(stage)
		found := 0
		for _, v := range secrets {
			if strings.Contains(got, v) {
				found++
			}
		}
		if IsUserScriptStage(stage) {
			if found != len(secrets) {
				t.Errorf("%s sees %d of the %d credential values", stage, found, len(secrets))
			}
			continue
		}
		if found > 0 || strings.Contains(got, "DB_PASSWORD=") || strings.Contains(got, "GITHUB_TOKEN=") {
			t.Errorf("%s sees %d credential values (or their variables)", stage, found)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("delivered files left between stages: %d entries", len(entries))
	}
	sum, err := s.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pred := verifyBundle(t, st, sum); len(pred.Steps) != 6 || pred.Outcome != "success" {
		t.Errorf("%d steps, outcome %q", len(pred.Steps), pred.Outcome)
	}
}
