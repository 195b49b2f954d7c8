package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
)

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"}, EnvVars: []string{"CHAPERONE_CONFIG"},
		Usage: "config file, or inline YAML (default .chaperone.yml)"}
}

func stateDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "state-dir", EnvVars: []string{"CHAPERONE_STATE_DIR"},
		Usage: "directory holding a started session, private to this user (default $RUNNER_TEMP/chaperone, else under $XDG_RUNTIME_DIR or ~/.local/state)"}
}

func policyFlag() cli.Flag {
	return &cli.StringFlag{Name: "policy", EnvVars: []string{"CHAPERONE_POLICY"},
		Usage: "the platform owner's policy (file or inline YAML): which identities may have which scopes"}
}

func formatFlag(def string, allowed ...string) cli.Flag {
	return &cli.StringFlag{Name: "format", Value: def, EnvVars: []string{"CHAPERONE_FORMAT"},
		Usage: "output format: " + strings.Join(allowed, ", ")}
}

// stateDir is --state-dir, or the per-user default where start, stop and
// mask meet.
func stateDir(c *cli.Context) (string, error) {
	if d := c.String("state-dir"); d != "" {
		return d, nil
	}
	return agent.DefaultStateDir(os.Getenv)
}

// loadConfig reads --config (whose env var CHAPERONE_CONFIG may hold
// inline YAML, as a GitLab CI/CD variable does).
func loadConfig(c *cli.Context) (*agent.Config, error) {
	return agent.LoadConfig(c.String("config"))
}

// sessionOptions are the options of a Session that issues grants: the
// config and, with --policy, the owner's policy.
func sessionOptions(c *cli.Context, cfg *agent.Config) (agent.Options, error) {
	opts := agent.Options{
		Config:  cfg,
		Log:     c.App.ErrWriter,
		Version: version,
		Commit:  commit,
	}
	if src := c.String("policy"); src != "" {
		p, err := agent.LoadPolicy(src)
		if err != nil {
			return opts, err
		}
		opts.Policy = p
	}
	return opts, nil
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "the whole lifecycle around one command",
		Description: `Runs CMD with the scopes' credentials and ends the job: revokes them and
signs the attestation. Flags before CMD are chaperone's; CMD and everything
after it are the command's own ("run sh -c 'x'" is "run -- sh -c 'x'").
The exit status is CMD's own, 125 when chaperone fails, 2 for a usage or
config error. The summary goes to stderr (--format json prints it there as
JSON, --summary-file writes the JSON to a file): stdout is CMD's alone.`,
		ArgsUsage: "[--] CMD [ARGS...]",
		Flags:     []cli.Flag{configFlag(), policyFlag(), &cli.StringFlag{Name: "state-dir", EnvVars: []string{"CHAPERONE_STATE_DIR"}, Usage: "also persist the session here, so chaperone stop can clean up after a killed run"}, formatFlag("text", "text", "json"), summaryFileFlag()},
		Action: func(c *cli.Context) error {
			argv := c.Args().Slice()
			if len(argv) == 0 {
				return usagef("run: no command given (usage: chaperone run [flags] [--] CMD ARGS...)")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			opts, err := sessionOptions(c, cfg)
			if err != nil {
				return err
			}
			opts.StateDir = c.String("state-dir")
			s, err := agent.NewSession(opts)
			if err != nil {
				return err
			}
			if err := s.Begin(c.Context); err != nil {
				return err
			}
			code, runErr := s.Run(c.Context, argv, c.App.Reader, c.App.Writer, c.App.ErrWriter)
			sum, stopErr := s.Stop(c.Context)
			var sumErr error
			if sum != nil {
				sumErr = printSummary(c, sum, c.App.ErrWriter)
			}
			if err := cmp.Or(runErr, stopErr, sumErr); err != nil {
				return err
			}
			return exitStatus(code)
		},
	}
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "obtain identity and grants, persist the session, print export lines for eval",
		Flags: []cli.Flag{configFlag(), policyFlag(), stateDirFlag(),
			&cli.StringFlag{Name: "shell", Value: "bash", EnvVars: []string{"CHAPERONE_SHELL"}, Usage: "bash, sh, or github (writes $GITHUB_ENV and ::add-mask::)"},
			&cli.StringFlag{Name: "mask-output", Value: "auto", EnvVars: []string{"CHAPERONE_MASK_OUTPUT"}, Usage: "bash and sh: route the rest of the evaluating shell's stdout and stderr through the masker: on, off, or auto (on in a GitLab job)"}},
		Action: func(c *cli.Context) error {
			err := startSession(c)
			if err != nil && c.String("shell") != "github" {
				// eval "$(chaperone start)" ignores start's status: what
				// it evaluates must end the job.
				_ = agent.ShellFailure(c.App.Writer, exitCode(err, io.Discard))
			}
			return err
		},
	}
}

// startSession is start's work; its error also ends the evaluating shell.
func startSession(c *cli.Context) error {
	shell := c.String("shell")
	if shell != "bash" && shell != "sh" && shell != "github" {
		return usagef("start: --shell %q is not one of bash, sh, github", shell)
	}
	if shell == "github" && os.Getenv("GITHUB_ENV") == "" {
		return usagef("start --shell github: GITHUB_ENV is not set (run it as a GitHub Actions step)")
	}
	maskOutput, err := agent.ShellMasksOutput(c.String("mask-output"), os.Getenv)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if names := cfg.EndpointScopes(); len(names) > 0 {
		return usagef("start: scopes %s use deliver: endpoint, which needs a process for the whole job: use `chaperone run`", strings.Join(names, ", "))
	}
	opts, err := sessionOptions(c, cfg)
	if err != nil {
		return err
	}
	if opts.StateDir, err = stateDir(c); err != nil {
		return err
	}
	s, err := agent.NewSession(opts)
	if err != nil {
		return err
	}
	if err := s.Begin(c.Context); err != nil {
		return err
	}
	switch {
	case shell == "github":
		return s.ExportGitHub(c.App.Writer, os.Getenv("GITHUB_ENV"))
	case maskOutput:
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("start: locating chaperone for the masker: %w", err)
		}
		if err := s.ExportShellMasked(c.App.Writer, []string{exe, "mask", "--job-output", "--state-dir", opts.StateDir}); err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "chaperone: session started (%s); the rest of this shell's output is masked\n", opts.StateDir)
		return nil
	}
	if err := s.ExportShell(c.App.Writer); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "chaperone: session started (%s)\n", opts.StateDir)
	return nil
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "wait for the masker of a shell job's output, revoke, attest and store a started session; print a summary",
		Flags: []cli.Flag{stateDirFlag(), formatFlag("text", "text", "json"), summaryFileFlag()},
		Action: func(c *cli.Context) error {
			dir, err := stateDir(c)
			if err != nil {
				return err
			}
			s, err := agent.Resume(agent.Options{StateDir: dir, Log: c.App.ErrWriter, Version: version, Commit: commit})
			if err != nil {
				return err
			}
			s.DrainJobOutput(c.Context)
			sum, err := s.Stop(c.Context)
			var sumErr error
			if sum != nil {
				sumErr = printSummary(c, sum, c.App.Writer)
			}
			return cmp.Or(err, sumErr)
		},
	}
}
