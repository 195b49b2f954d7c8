// Command chaperone obtains short-lived federated credentials for a CI job,
// masks them in its logs, revokes them at the end and signs an attestation
// of what the job's non-human identity did. This package only wires flags
// to the agent, masking and attest packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/agent/deliver"
)

// Exit codes: 0 success, 1 a check failed (verify rejected, scan found
// issues), 2 a usage or config error, 125 an agent failure; otherwise run
// exits with its command's own status.
const (
	exitOK          = 0
	exitCheckFailed = 1
	exitUsage       = 2
	exitAgent       = 125
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

func main() {
	// The endpoint links the credential helpers' names to this binary.
	switch filepath.Base(os.Args[0]) {
	case deliver.DockerHelperName:
		os.Exit(deliver.RunDockerHelper(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	case deliver.GitHelperName:
		os.Exit(deliver.RunGitHelper(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	// A CI runner ends a job with TERM, a closed terminal or session with
	// HUP, a user with INT or QUIT: each one ends the job the same way, so
	// its credentials are still revoked and the attestation still written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	// A reader that goes away (`| head`) must not kill chaperone mid-job:
	// with SIGPIPE caught, writes to a closed stdout or stderr fail with
	// EPIPE instead. Caught, not ignored, so the wrapped command still gets
	// the default SIGPIPE (an ignored signal would be inherited).
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	signal.Stop(pipes)
	os.Exit(code)
}

// run executes the CLI and maps its outcome onto the exit codes above.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, reorderArgs(app, actionEntrypointArgs(args)))
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var code exitStatus
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintln(stderr, "chaperone:", oneLine(err.Error()))
	var cfgErr *agent.ConfigError
	var usage usageError
	var agentErr *agent.AgentError
	var check checkFailed
	switch {
	case errors.As(err, &cfgErr), errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &check):
		return exitCheckFailed
	case errors.As(err, &agentErr):
		return exitAgent
	}
	// Errors from the flag parser are usage errors, and so is the only
	// cli.Exit the framework returns itself: help for an unknown command.
	var framework cli.ExitCoder
	if isFlagError(err) || errors.As(err, &framework) {
		return exitUsage
	}
	return exitAgent
}

// exitStatus is returned when a command's status has already been decided
// (run passes the wrapped command's own status through).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a command-line mistake: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// checkFailed is a negative verdict (verify rejected): exit 1.
type checkFailed struct{ err error }

func (e checkFailed) Error() string { return e.err.Error() }
func (e checkFailed) Unwrap() error { return e.err }

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "chaperone",
		Usage:                "short-lived federated credentials for CI jobs, masked, revoked and attested",
		Version:              version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideVersion:          true,
		EnableBashCompletion: false,
		ExitErrHandler:       func(*cli.Context, error) {}, // exit codes are decided in run
		Flags:                []cli.Flag{&cli.BoolFlag{Name: "version", Usage: "print the version (as chaperone version does)"}},
		Action:               rootAction,
		Commands: []*cli.Command{
			runCommand(),
			startCommand(),
			stopCommand(),
			maskCommand(),
			verifyCommand(),
			actionCommand(),
			gitlabCommand(),
			policyCommand(),
			scanCommand(),
			reportCommand(),
			devstackCommand(),
			demoCommand(),
			versionCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} },
	}
	var setup func(cmds []*cli.Command)
	setup = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = app.OnUsageError
			if len(c.Subcommands) > 0 && c.Action == nil {
				c.Action = groupAction
			}
			for _, f := range c.Flags {
				defaultEnv(f)
			}
			setup(c.Subcommands)
		}
	}
	setup(app.Commands)
	return app
}

// rootAction runs when no command is named: --version prints the version,
// an unknown command is a usage error, and nothing at all shows the help.
func rootAction(c *cli.Context) error {
	switch {
	case c.Bool("version"):
		printVersion(c.App.Writer, "text")
		return nil
	case c.Args().Present():
		return usagef("unknown command %q (chaperone --help lists the commands)", c.Args().First())
	}
	return cli.ShowAppHelp(c)
}

// groupAction runs when a command made of subcommands (gitlab, policy) is
// given none of them: an unknown one is a usage error, none shows the help.
func groupAction(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("unknown command %q (chaperone %s --help lists its commands)", c.Command.Name+" "+c.Args().First(), c.Command.Name)
	}
	return cli.ShowSubcommandHelp(c)
}

// defaultEnv gives a flag without its own variable CHAPERONE_<NAME>, so
// every flag can be set from the environment.
func defaultEnv(f cli.Flag) {
	name := "CHAPERONE_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
	switch f := f.(type) {
	case *cli.StringFlag:
		if len(f.EnvVars) == 0 {
			f.EnvVars = []string{name}
		}
	case *cli.BoolFlag:
		if len(f.EnvVars) == 0 {
			f.EnvVars = []string{name}
		}
	case *cli.IntFlag:
		if len(f.EnvVars) == 0 {
			f.EnvVars = []string{name}
		}
	case *cli.DurationFlag:
		if len(f.EnvVars) == 0 {
			f.EnvVars = []string{name}
		}
	case *cli.StringSliceFlag:
		if len(f.EnvVars) == 0 {
			f.EnvVars = []string{name}
		}
	}
}
