package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// IsUserScriptStage reports whether a custom executor stage runs the job's
// own script: build_script (the runner's name for step_script), the other
// step_* and after_script. Every other stage is the runner's own
// (prepare_script, get_sources, restore_cache, download_artifacts,
// archive_cache*, upload_artifacts_*, cleanup_file_variables, and any the
// runner adds later) and gets no credential.
func IsUserScriptStage(stage string) bool {
	return stage == "build_script" || stage == "after_script" || strings.HasPrefix(stage, "step_")
}

// driverOnlyEnv are the variables the runner and config_exec's job_env
// give the driver, not the job: the session's directory (every secret of
// the job) and the job's JSON (its token).
var driverOnlyEnv = []string{"CHAPERONE_STATE_DIR", "JOB_RESPONSE_FILE"}

// ExecutorEnviron is the base environment of a custom executor stage's
// script: the driver's own without the variables meant for the driver.
func ExecutorEnviron(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(driverOnlyEnv, name) {
			out = append(out, kv)
		}
	}
	return out
}

// BeginExecutorJob is Begin for a custom executor's prepare stage: the
// session is started and saved, and its delivered files are removed
// again until a user script stage runs (see RunExecutorStage).
func (s *Session) BeginExecutorJob(ctx context.Context) error {
	if err := s.Begin(ctx); err != nil {
		return err
	}
	return s.withholdFiles()
}

// RunExecutorStage runs one custom executor stage's script with bash, its
// stdout and stderr masked, and records it as a step under the stage's
// name. Only a user script stage (IsUserScriptStage) gets the job's
// credentials: its environment carries the delivered variables, and the
// delivered files are written for it and removed when it ends. Any other
// stage runs with neither (no credential variable, no delivered file; the
// executor serves no endpoint). The runner's stages run as the same user
// as the driver: the credentials are withheld from them, not walled off.
func (s *Session) RunExecutorStage(ctx context.Context, stage, script string, stdout, stderr io.Writer) (int, error) {
	user := IsUserScriptStage(stage)
	env := s.withheldEnviron()
	if user {
		if err := s.redeliverFiles(); err != nil {
			_ = s.withholdFiles()
			return 0, &AgentError{Err: err}
		}
		env = s.Environ()
	} else if err := s.withholdFiles(); err != nil { // one a killed stage left
		return 0, &AgentError{Err: err}
	}
	code, err := s.run(ctx, stage, env, []string{"bash", script}, nil, stdout, stderr)
	if user {
		if werr := s.withholdFiles(); werr != nil && err == nil {
			err = &AgentError{Err: werr}
		}
	}
	if err != nil {
		return code, err
	}
	if err := s.persist(); err != nil {
		return code, &AgentError{Err: err}
	}
	return code, nil
}

// withheldEnviron is the job's base environment without any credential:
// no delivered variable, no OIDC request credentials.
func (s *Session) withheldEnviron() []string {
	drop := map[string]bool{"ACTIONS_ID_TOKEN_REQUEST_TOKEN": true, "ACTIONS_ID_TOKEN_REQUEST_URL": true}
	for _, g := range s.st.Grants {
		for _, v := range g.Grant.Values {
			drop[v.Name] = true
		}
	}
	out := make([]string, 0, len(s.opts.Environ))
	for _, kv := range s.opts.Environ {
		if name, _, _ := strings.Cut(kv, "="); !drop[name] {
			out = append(out, kv)
		}
	}
	return out
}

// redeliverFiles writes the live file-delivered grants into a new private
// directory.
func (s *Session) redeliverFiles() error {
	if err := s.undeliver(); err != nil {
		return err
	}
	for _, g := range s.st.Grants {
		if g.Delivery == "file" && g.Revocation == nil {
			if err := s.deliver(g); err != nil {
				return err
			}
		}
	}
	return s.persist()
}

// withholdFiles removes the delivered files (the grants keep their
// values, for the next user script stage) and saves the session.
func (s *Session) withholdFiles() error {
	if err := s.undeliver(); err != nil {
		return err
	}
	return s.persist()
}
