package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/masking"
)

// ExitCommandNotFound is the status recorded when the command cannot be
// started, as shells report it.
const ExitCommandNotFound = 127

// Run runs argv with the job's environment, its stdout and stderr streamed
// through the masker (as one stream when both reach one destination), and
// records the step. It returns the
// command's exit status (128+N when killed by signal N). A command that
// cannot be started is the job's failure (127), not the agent's.
func (s *Session) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return s.run(ctx, "", s.Environ(), argv, stdin, stdout, stderr)
}

// RunStage is Run for one stage of a CI job (a GitLab executor's
// build_script, after_script, …): the step is recorded under the stage's
// name.
func (s *Session) RunStage(ctx context.Context, stage string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return s.run(ctx, stage, s.Environ(), argv, stdin, stdout, stderr)
}

// run runs argv with the environment env (Environ, or less where a stage
// must not see the credentials), masked, and records the step.
func (s *Session) run(ctx context.Context, stage string, env, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 0, &ConfigError{Msg: "no command given (usage: chaperone run -- CMD ARGS...)"}
	}
	// Lines the job prints to register secrets (::add-mask::VALUE) extend
	// the mask set for everything after them.
	mode := masking.AddMaskRedact
	if s.st.Platform == PlatformGitHub {
		mode = masking.AddMaskForward // the runner consumes the command too
	}
	// When stdout and stderr reach one destination (one writer, or one
	// pipe, file or terminal, as in most CI logs), the command gets one
	// pipe for both and one masker reads it: the log is masked as the one
	// stream it is, in write order, so a secret printed half to each is
	// masked. Otherwise each stream is masked on its own.
	outW := s.masks.NewWriter(stdout, masking.WithAddMask(mode))
	maskers := []*masking.Writer{outW}
	if !sameWriter(stdout, stderr) && !sameFile(stdout, stderr) {
		maskers = append(maskers, s.masks.NewWriter(stderr))
	}
	grace := s.cfg.Timeouts.withDefaults().KillGrace

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = stdin
	// The command gets a process group of its own, so that what it leaves
	// behind can be found and ended before its credentials are revoked.
	// Not on a terminal: a background group cannot read it.
	ownGroup := !isTerminal(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: ownGroup}
	// On cancellation ask the command to stop, as a CI runner would,
	// before killing it.
	cmd.Cancel = func() error { return signalJob(cmd.Process.Pid, ownGroup, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	// The output pipes are ours, not exec's: exec would wait for every
	// process holding them, and a left-behind one may hold them forever.
	var copies []*outputCopy
	for _, m := range maskers {
		c, err := startCopy(m)
		if err != nil {
			return 0, &AgentError{Err: err}
		}
		defer c.abort()
		copies = append(copies, c)
	}
	cmd.Stdout, cmd.Stderr = copies[0].w, copies[len(copies)-1].w

	step := attest.Step{Command: s.scrubArgs(argv), Stage: stage, StartedAt: time.Now().UTC()}
	idx, err := s.beginStep(step)
	if err != nil {
		return 0, &AgentError{Err: err}
	}
	code, runErr := 0, cmd.Start()
	for _, c := range copies {
		c.startedChild()
	}
	if runErr == nil {
		runErr = cmd.Wait()
		if ownGroup {
			step.EndedProcesses = s.endLeftovers(cmd.Process.Pid, grace)
		}
	}
	// Every writer of the pipes has exited or been ended: drain what they
	// wrote, bounded in case one escaped its group.
	for i, c := range copies {
		c.wait(grace)
		_ = maskers[i].Close()
	}
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
			s.dropStep(idx)
			return 0, &AgentError{Err: fmt.Errorf("running %s: %s", s.scrub(argv[0]), s.scrub(runErr.Error()))}
		}
		code = exitStatus(cmd.ProcessState)
	}
	step.ExitCode = code
	for _, m := range maskers {
		step.Redactions += m.Redactions()
	}
	s.mu.Lock()
	s.st.Steps[idx] = step
	s.st.Redactions += step.Redactions
	if ctx.Err() != nil {
		s.st.Canceled = true
	}
	s.mu.Unlock()
	if err := s.persist(); err != nil {
		s.logf("saving the finished step: %v", err)
	}
	return code, nil
}

// beginStep records a step as started (no end time) and saves the
// Session, so that a stop after this process is killed knows a command
// was running. Nothing runs when the record cannot be saved.
func (s *Session) beginStep(step attest.Step) (int, error) {
	s.mu.Lock()
	s.st.Steps = append(s.st.Steps, step)
	idx := len(s.st.Steps) - 1
	s.mu.Unlock()
	if err := s.persist(); err != nil {
		s.dropStep(idx)
		return 0, fmt.Errorf("saving the session before running the command: %w", err)
	}
	return idx, nil
}

// dropStep forgets a step whose command never started.
func (s *Session) dropStep(idx int) {
	s.mu.Lock()
	s.st.Steps = append(s.st.Steps[:idx], s.st.Steps[idx+1:]...)
	s.mu.Unlock()
}

// endLeftovers ends the processes the command left in its process group
// and logs what it ended.
func (s *Session) endLeftovers(pgid int, grace time.Duration) []attest.EndedProcess {
	ended := endGroup(pgid, grace)
	if len(ended) > 0 {
		names := make([]string, len(ended))
		for i, p := range ended {
			names[i] = fmt.Sprintf("%s (pid %d, %s)", s.scrub(p.Executable), p.PID, p.Signal)
		}
		s.logf("ended %d process(es) the command left running: %s", len(ended), strings.Join(names, ", "))
	}
	for i := range ended {
		ended[i].Executable = s.scrub(ended[i].Executable)
	}
	return ended
}

// outputCopy copies one of the command's output pipes into a masker.
type outputCopy struct {
	r, w *os.File
	done chan struct{}
}

// startCopy makes the pipe and starts copying it into dst. When dst fails
// (the reader of chaperone's output went away) the pipe is closed, so the
// command meets a closed pipe as it would without chaperone.
func startCopy(dst io.Writer) (*outputCopy, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	c := &outputCopy{r: r, w: w, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		_, _ = io.Copy(dst, r)
		_ = r.Close()
	}()
	return c, nil
}

// startedChild closes the parent's copy of the write end: the child has
// its own, and the copy must see EOF when the child's are gone.
func (c *outputCopy) startedChild() { _ = c.w.Close() }

// wait waits up to d for the copy to reach the end of the pipe, then cuts
// it off.
func (c *outputCopy) wait(d time.Duration) {
	select {
	case <-c.done:
	case <-time.After(d):
		_ = c.r.Close()
		<-c.done
	}
}

// abort releases the pipe if the command never ran.
func (c *outputCopy) abort() {
	_ = c.w.Close()
	_ = c.r.Close()
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

// sameFile reports whether a and b are open files (pipes, terminals) that
// are the same file.
func sameFile(a, b io.Writer) bool {
	fa, ok := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok || !ok2 || fa == nil || fb == nil {
		return false
	}
	sa, err := fa.Stat()
	if err != nil {
		return false
	}
	sb, err := fb.Stat()
	return err == nil && os.SameFile(sa, sb)
}
