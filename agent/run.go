package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/masking"
)

// ExitCommandNotFound is the status recorded when the command cannot be
// started, as shells report it.
const ExitCommandNotFound = 127

// Run runs argv with the job's environment, its stdout and stderr streamed
// separately through the masker, and records the step. It returns the
// command's exit status (128+N when killed by signal N). A command that
// cannot be started is the job's failure (127), not the agent's.
func (s *Session) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return s.run(ctx, "", argv, stdin, stdout, stderr)
}

// RunStage is Run for one stage of a CI job (a GitLab executor's
// build_script, after_script, …): the step is recorded under the stage's
// name.
func (s *Session) RunStage(ctx context.Context, stage string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return s.run(ctx, stage, argv, stdin, stdout, stderr)
}

func (s *Session) run(ctx context.Context, stage string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 0, &ConfigError{Msg: "no command given (usage: chaperone run -- CMD ARGS...)"}
	}
	if sameWriter(stdout, stderr) {
		// Two maskers feed one destination from two goroutines.
		shared := &lockedWriter{w: stdout}
		stdout, stderr = shared, shared
	}
	// Lines the job prints to register secrets (::add-mask::VALUE) extend
	// the mask set for everything after them.
	mode := masking.AddMaskRedact
	if s.st.Platform == PlatformGitHub {
		mode = masking.AddMaskForward // the runner consumes the command too
	}
	outW := s.masks.NewWriter(stdout, masking.WithAddMask(mode))
	errW := s.masks.NewWriter(stderr)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = s.Environ()
	cmd.Stdin = stdin
	cmd.Stdout = outW
	cmd.Stderr = errW
	// On cancellation ask the command to stop, as a CI runner would,
	// before killing it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second

	step := attest.Step{Command: s.scrubArgs(argv), Stage: stage, StartedAt: time.Now().UTC()}
	code, runErr := 0, cmd.Run()
	_ = outW.Close()
	_ = errW.Close()
	step.EndedAt = time.Now().UTC()
	switch {
	case runErr == nil:
	case errors.As(runErr, new(*exec.ExitError)):
		code = exitStatus(cmd.ProcessState)
	case errors.Is(runErr, exec.ErrNotFound), errors.Is(runErr, os.ErrNotExist), errors.Is(runErr, os.ErrPermission):
		code = ExitCommandNotFound
		fmt.Fprintf(stderr, "chaperone: cannot run %s: %v\n", s.scrub(argv[0]), errors.Unwrap(runErr))
	default:
		if cmd.ProcessState == nil {
			return 0, &AgentError{Err: fmt.Errorf("running %s: %s", s.scrub(argv[0]), s.scrub(runErr.Error()))}
		}
		code = exitStatus(cmd.ProcessState)
	}
	step.ExitCode = code
	step.Redactions = outW.Redactions() + errW.Redactions()
	s.mu.Lock()
	s.st.Steps = append(s.st.Steps, step)
	s.st.Redactions += step.Redactions
	s.mu.Unlock()
	return code, nil
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (s *Session) scrubArgs(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = s.scrub(a)
	}
	return out
}

// sameWriter reports whether a and b are the same comparable writer.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// lockedWriter serialises writes from the stdout and stderr maskers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
