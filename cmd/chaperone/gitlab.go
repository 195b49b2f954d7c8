package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
)

// gitlabCommand is the GitLab Runner custom executor driver: config.toml
// points config_exec, prepare_exec, run_exec and cleanup_exec at
// `chaperone gitlab config|prepare|run|cleanup`. The job's scripts run on
// this host with bash, their output masked; only the job's own script
// stages get its credentials; the session lives in a directory of the
// job's own between the stages.
func gitlabCommand() *cli.Command {
	return &cli.Command{
		Name:  "gitlab",
		Usage: "the GitLab Runner custom executor driver (config_exec, prepare_exec, run_exec, cleanup_exec)",
		Subcommands: []*cli.Command{
			{
				Name:  "config",
				Usage: "print the executor's configuration (JSON) for this job",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "builds-dir", Value: "/builds", Usage: "where the runner checks out the job's sources"},
					&cli.StringFlag{Name: "cache-dir", Value: "/cache", Usage: "where the runner keeps the job's cache"},
					&cli.StringFlag{Name: "state-root", Value: os.TempDir(), Usage: "directory for the jobs' session directories"},
				},
				Action: func(c *cli.Context) error {
					jobID, err := agent.JobIDFromResponse(os.Getenv("JOB_RESPONSE_FILE"))
					if err != nil {
						return gitlabFailure(c, "config", err)
					}
					cfg, err := agent.NewExecutorConfig(c.String("builds-dir"), c.String("cache-dir"), c.String("state-root"), jobID, version)
					if err != nil {
						return gitlabFailure(c, "config", err)
					}
					enc := json.NewEncoder(c.App.Writer)
					return enc.Encode(cfg)
				},
			},
			{
				Name:  "prepare",
				Usage: "obtain the job's identity and grants, and persist the session",
				Flags: []cli.Flag{configFlag(), policyFlag(), stateDirFlag()},
				Action: func(c *cli.Context) error {
					getenv := agent.CustomExecutorEnv(os.Environ())
					cfg, err := gitlabConfig(c, getenv)
					if err != nil {
						return gitlabJobFailure(c, "prepare", err)
					}
					if names := cfg.EndpointScopes(); len(names) > 0 {
						return gitlabJobFailure(c, "prepare", usagef("scopes %s use deliver: endpoint, which the executor does not serve: use env or file delivery", strings.Join(names, ", ")))
					}
					// The policy is the runner host's (--policy, CHAPERONE_POLICY):
					// a job's variable of that name is CUSTOM_ENV_CHAPERONE_POLICY.
					opts, err := sessionOptions(c, cfg)
					if err != nil {
						return gitlabFailure(c, "prepare", err)
					}
					opts.StateDir, opts.Getenv = c.String("state-dir"), getenv
					if opts.StateDir == "" {
						return gitlabFailure(c, "prepare", usagef("no state directory: CHAPERONE_STATE_DIR comes from the config stage's job_env"))
					}
					s, err := agent.NewSession(opts)
					if err != nil {
						return gitlabFailure(c, "prepare", err)
					}
					if err := s.BeginExecutorJob(c.Context); err != nil {
						var cfgErr *agent.ConfigError
						if errors.As(err, &cfgErr) {
							return gitlabJobFailure(c, "prepare", err)
						}
						return gitlabFailure(c, "prepare", err)
					}
					fmt.Fprintln(c.App.ErrWriter, "chaperone: the job's credentials are ready")
					return nil
				},
			},
			{
				Name:      "run",
				Usage:     "run one stage's script, its output masked; only the job's own script stages (build_script, step_*, after_script) get the credentials",
				ArgsUsage: "SCRIPT STAGE",
				Flags:     []cli.Flag{stateDirFlag()},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return gitlabFailure(c, "run", usagef("want SCRIPT STAGE, got %d arguments", c.NArg()))
					}
					script, stage := c.Args().Get(0), c.Args().Get(1)
					s, err := gitlabResume(c)
					if err != nil {
						return gitlabFailure(c, "run "+stage, err)
					}
					code, err := s.RunExecutorStage(c.Context, stage, script, c.App.Writer, c.App.ErrWriter)
					if err != nil {
						return gitlabFailure(c, "run "+stage, err)
					}
					if code == 0 {
						return nil
					}
					// The runner reads the script's own status from the file
					// (allow_failure: exit_codes) and needs the failure code.
					if f := os.Getenv("BUILD_EXIT_CODE_FILE"); f != "" {
						if err := os.WriteFile(f, []byte(strconv.Itoa(code)), 0o600); err != nil {
							return gitlabFailure(c, "run "+stage, err)
						}
					}
					return exitStatus(runnerCode("BUILD_FAILURE_EXIT_CODE", 1))
				},
			},
			{
				Name:  "cleanup",
				Usage: "revoke the job's grants, attest and store",
				Flags: []cli.Flag{stateDirFlag(), formatFlag("text", "text", "json"), summaryFileFlag()},
				Action: func(c *cli.Context) error {
					s, err := gitlabResume(c)
					if err != nil {
						return gitlabFailure(c, "cleanup", err)
					}
					sum, err := s.Stop(c.Context)
					if sum != nil {
						// cleanup_exec's output goes to the runner's log, not
						// the job's.
						err = cmp.Or(err, printSummary(c, sum, c.App.Writer))
					}
					if err != nil {
						return gitlabFailure(c, "cleanup", err)
					}
					return nil
				},
			},
		},
	}
}

// gitlabConfig reads the config the runner's owner set (--config or
// CHAPERONE_CONFIG on the runner host), else the job's CHAPERONE_CONFIG
// variable: the job's own files are not checked out before prepare.
func gitlabConfig(c *cli.Context, getenv func(string) string) (*agent.Config, error) {
	src := c.String("config")
	if src == "" {
		src = getenv("CHAPERONE_CONFIG")
	}
	if src == "" {
		return nil, usagef("no config: set CHAPERONE_CONFIG on the runner host or as a CI/CD variable (a path or inline YAML)")
	}
	return agent.LoadConfig(src)
}

// gitlabResume loads the session that prepare saved.
func gitlabResume(c *cli.Context) (*agent.Session, error) {
	dir := c.String("state-dir")
	if dir == "" {
		return nil, usagef("no state directory: CHAPERONE_STATE_DIR comes from the config stage's job_env")
	}
	return agent.Resume(agent.Options{StateDir: dir, Getenv: agent.CustomExecutorEnv(os.Environ()),
		Environ: agent.ExecutorEnviron(os.Environ()), Log: c.App.ErrWriter, Version: version, Commit: commit})
}

// gitlabFailure reports err on one line and returns the runner's system
// failure code: any other code than the two the runner gives is read as
// an unknown failure.
func gitlabFailure(c *cli.Context, stage string, err error) error {
	fmt.Fprintf(c.App.ErrWriter, "chaperone: gitlab %s: %s\n", stage, oneLine(err.Error()))
	return exitStatus(runnerCode("SYSTEM_FAILURE_EXIT_CODE", 2))
}

// gitlabJobFailure reports a fault of the job's own (its config, a scope
// the issuer refuses to configure) as a build failure: the runner retries
// a system failure of prepare three times, which would only issue and
// revoke again.
func gitlabJobFailure(c *cli.Context, stage string, err error) error {
	fmt.Fprintf(c.App.ErrWriter, "chaperone: gitlab %s: %s\n", stage, oneLine(err.Error()))
	return exitStatus(runnerCode("BUILD_FAILURE_EXIT_CODE", 1))
}

// runnerCode reads one of the exit codes the runner gives its driver.
func runnerCode(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 && n < 256 {
		return n
	}
	return def
}
