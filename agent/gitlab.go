package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// GitLab Runner's custom executor runs a driver for each stage of a job
// (config, prepare, run per script stage, cleanup), each a new process. It
// hands the driver the job's variables with a CUSTOM_ENV_ prefix, beside
// the runner host's own environment.

// customEnvPrefix marks the job's variables in a custom executor stage.
const customEnvPrefix = "CUSTOM_ENV_"

// CustomExecutorEnv returns the Getenv a Session should use in a custom
// executor stage: the job's variable NAME from CUSTOM_ENV_NAME, the host's
// NAME otherwise. environ is the stage's environment (os.Environ()).
func CustomExecutorEnv(environ []string) func(string) string {
	job, host := map[string]string{}, map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if name, isJob := strings.CutPrefix(k, customEnvPrefix); isJob {
			job[name] = v
		} else {
			host[k] = v
		}
	}
	return func(name string) string {
		if v, ok := job[name]; ok {
			return v
		}
		return host[name]
	}
}

// ExecutorConfig is what a custom executor's config stage prints: where
// the job's files go, which shell runs its scripts, and job_env, which the
// runner passes to the later driver stages (not to the job).
type ExecutorConfig struct {
	BuildsDir         string            `json:"builds_dir"`
	CacheDir          string            `json:"cache_dir"`
	BuildsDirIsShared bool              `json:"builds_dir_is_shared"`
	Hostname          string            `json:"hostname,omitempty"`
	Driver            ExecutorDriver    `json:"driver"`
	JobEnv            map[string]string `json:"job_env"`
	Shell             string            `json:"shell"`
}

// ExecutorDriver names the driver in the job log.
type ExecutorDriver struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// maxJobResponse bounds the job JSON the runner hands its driver.
const maxJobResponse = 64 << 20

// JobIDFromResponse reads the job's id from JOB_RESPONSE_FILE, the job as
// GitLab sent it to the runner: unlike CUSTOM_ENV_CI_JOB_ID, which a job
// can set to another job's id, the job cannot change it.
func JobIDFromResponse(path string) (string, error) {
	if path == "" {
		return "", &ConfigError{Msg: "gitlab: JOB_RESPONSE_FILE is not set (run as a GitLab Runner custom executor stage)"}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("gitlab: JOB_RESPONSE_FILE: %w", err)
	}
	defer f.Close()
	var job struct {
		ID json.Number `json:"id"`
	}
	// The file holds the job's token: an error names no byte of it.
	if err := json.NewDecoder(io.LimitReader(f, maxJobResponse)).Decode(&job); err != nil {
		return "", fmt.Errorf("gitlab: JOB_RESPONSE_FILE %s: not the job's JSON", path)
	}
	if _, err := job.ID.Int64(); err != nil {
		return "", fmt.Errorf("gitlab: JOB_RESPONSE_FILE %s: no numeric job id", path)
	}
	return job.ID.String(), nil
}

// NewExecutorConfig describes a driver that runs the job's scripts with
// bash on this host, keeping the session of job jobID in a directory of
// its own under stateRoot.
func NewExecutorConfig(buildsDir, cacheDir, stateRoot, jobID, version string) (*ExecutorConfig, error) {
	if jobID == "" || strings.ContainsAny(jobID, "/\\.") {
		return nil, &ConfigError{Msg: fmt.Sprintf("gitlab: job id %q is not a job id", jobID)}
	}
	host, _ := os.Hostname()
	return &ExecutorConfig{
		BuildsDir: buildsDir,
		CacheDir:  cacheDir,
		Hostname:  host,
		Driver:    ExecutorDriver{Name: "chaperone", Version: version},
		JobEnv:    map[string]string{"CHAPERONE_STATE_DIR": filepath.Join(stateRoot, "chaperone-gitlab-job-"+jobID)},
		Shell:     "bash",
	}, nil
}
