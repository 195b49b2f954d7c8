package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
