package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
	"github.com/chaperone-ci/chaperone/masking"
)

// Shell mode: `eval "$(chaperone start --shell bash)"` in a job whose
// later lines run in the same shell (a GitLab before_script). What the
// shell evaluates routes the rest of its stdout and stderr through a
// masker process, then sources the credentials from a file beside the
// session, so that the evaluated text itself holds no secret: a shell that
// traces (set -x, GitLab's CI_DEBUG_TRACE) prints what it evaluates before
// the redirection takes effect. The masker is started through a FIFO, in
// the background of a subshell that exits at once: it is not a child of
// the job's shell, whose `wait` would otherwise wait for it forever (bash
// waits for process substitutions too), and the text is the same for bash
// and POSIX sh. The masker records itself in the session's state
// directory; stop waits for it to reach the end of the job's output and
// attests what it redacted.

const (
	// exportsFile holds the export lines the job's shell sources.
	exportsFile = "exports.sh"
	// outputFIFOPrefix names the FIFO the job's output goes through.
	outputFIFOPrefix = "output-"
	// maskerRecordPrefix names a masker's record: masker-PID.json.
	maskerRecordPrefix = "masker-"
	// maxMaskerRecord bounds what stop reads of one record.
	maxMaskerRecord = 4 << 10
	// drainPoll is how often stop looks at a masker that is still running.
	drainPoll = 50 * time.Millisecond
)

// ShellMasksOutput decides whether start's shell output routes the rest of
// the job's output through the masker: mode "on" or "off", or "auto",
// which is on in a GitLab job (whose later lines run in the shell that
// evaluates start) and off elsewhere (an interactive shell keeps its
// terminal).
func ShellMasksOutput(mode string, getenv func(string) string) (bool, error) {
	switch mode {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "auto", "":
		return getenv("GITLAB_CI") == "true", nil
	}
	return false, &ConfigError{Msg: fmt.Sprintf("--mask-output %q is not one of auto, on, off", mode)}
}

// ExportShellMasked writes, for a POSIX shell (bash or sh) to evaluate,
// the lines that start masker (the argv of `chaperone mask --job-output`
// for this session) reading a new FIFO in the state directory, send the
// rest of the shell's stdout and stderr into it, and source the export
// lines of DeliveredEnv from a 0600 file in the state directory. Nothing
// written to w is secret. The Session must have been saved (Begin with a
// StateDir): the masker resumes it.
func (s *Session) ExportShellMasked(w io.Writer, masker []string) error {
	if s.opts.StateDir == "" || len(masker) == 0 {
		return errors.New("agent: masking a shell's output needs a state directory and a masker command")
	}
	// The shell may change directory before it opens them.
	dir, err := filepath.Abs(s.opts.StateDir)
	if err != nil {
		return &AgentError{Err: err}
	}
	if err := checkPrivateDir(dir); err != nil {
		return &AgentError{Err: err}
	}
	var exports strings.Builder
	if err := s.ExportShell(&exports); err != nil {
		return &AgentError{Err: err}
	}
	exportsPath := filepath.Join(dir, exportsFile)
	if err := atomicfile.Write(exportsPath, []byte(exports.String()), 0o600); err != nil {
		return &AgentError{Err: fmt.Errorf("state dir %s: %w", dir, err)}
	}
	fifo := filepath.Join(dir, outputFIFOPrefix+randomHex(8)+".fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return &AgentError{Err: fmt.Errorf("state dir %s: output FIFO: %w", dir, err)}
	}
	quoted := make([]string, len(masker))
	for i, a := range masker {
		quoted[i] = quoteWord(a)
	}
	_, err = fmt.Fprintf(w, "( %s <%s & )\nexec >%s 2>&1\n. %s\n",
		strings.Join(quoted, " "), quoteWord(fifo), quoteWord(fifo), quoteWord(exportsPath))
	return err
}

// ShellFailure writes what a shell evaluating a failed start runs: a
// message on stderr, then `exit code`, since `eval "$(chaperone start)"`
// ignores start's own status and the job would go on without its
// credentials. An interactive shell is not closed: its status becomes
// nonzero instead.
func ShellFailure(w io.Writer, code int) error {
	if code <= 0 || code > 255 {
		code = 1
	}
	_, err := fmt.Fprintf(w, "echo 'chaperone: start failed (exit %d), see above: stopping the job' >&2\ncase $- in *i*) false ;; *) exit %d ;; esac\n", code, code)
	return err
}

// quoteWord quotes s as one word for a POSIX shell.
func quoteWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// maskerRecord is what a job output masker leaves in the session's state
// directory for stop: its pid while it runs; at the end of the job's
// output, its redaction count.
type maskerRecord struct {
	PID        int       `json:"pid"`
	StartedAt  time.Time `json:"startedAt"`
	Done       bool      `json:"done"`
	Redactions int       `json:"redactions"`
}

// MaskJobOutput copies r (the job's output) to w through the Session's
// masker until r ends, recorded in the state directory as masker-PID.json
// (0600): first its pid, at the end its redaction count, which stop adds
// to the attestation. A record that cannot be written is reported on log
// and the output is masked all the same: a masker that quits would cut
// the job's output off.
func (s *Session) MaskJobOutput(r io.Reader, w io.Writer, log io.Writer, opts ...masking.WriterOption) error {
	rec := maskerRecord{PID: os.Getpid(), StartedAt: time.Now().UTC()}
	if err := s.writeMaskerRecord(rec); err != nil {
		fmt.Fprintf(log, "chaperone: mask: %v (stop will not count this output's redactions)\n", err)
	}
	mw := s.masks.NewWriter(w, opts...)
	// Large writes keep the masker fast; hiding the reader's WriteTo stops
	// os.File from forcing 32 KiB chunks.
	_, copyErr := io.CopyBuffer(mw, struct{ io.Reader }{r}, make([]byte, 256<<10))
	closeErr := mw.Close()
	rec.Done, rec.Redactions = true, mw.Redactions()
	// After a stop that gave up waiting, the directory may be gone.
	if err := s.writeMaskerRecord(rec); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(log, "chaperone: mask: %v\n", err)
	}
	if copyErr != nil {
		return fmt.Errorf("mask: %w", copyErr)
	}
	return closeErr
}

func (s *Session) writeMaskerRecord(rec maskerRecord) error {
	dir := s.opts.StateDir
	if err := checkPrivateDir(dir); err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, fmt.Sprintf("%s%d.json", maskerRecordPrefix, rec.PID)), data, 0o600)
}

// DrainJobOutput waits, at most timeouts.kill-grace, for every job output
// masker recorded in the state directory to reach the end of the job's
// output (GitLab runs after_script in a new shell once the job's shell has
// exited, while its masker may still be writing), adds the redactions they
// counted to the Session's, and removes their records, the FIFOs and the
// exports file. A masker still running at the bound (a process the job
// left behind holds the output) goes on masking; its count is not
// attested, and the log says so. Problems are logged: they never stop the
// revocation that follows.
func (s *Session) DrainJobOutput(ctx context.Context) {
	dir := s.opts.StateDir
	if dir == "" {
		return
	}
	if err := checkPrivateDir(dir); err != nil {
		s.logf("job output: %v", err)
		return
	}
	deadline := time.Now().Add(s.cfg.Timeouts.withDefaults().KillGrace)
	for _, name := range s.listStateFiles(maskerRecordPrefix, ".json") {
		path := filepath.Join(dir, name)
		rec, err := waitMasker(ctx, path, deadline)
		switch {
		case err != nil:
			s.logf("job output masker record %s: %v", name, err)
		case rec.Done:
			s.mu.Lock()
			s.st.Redactions += rec.Redactions
			s.mu.Unlock()
		case pidAlive(rec.PID):
			s.logf("job output masker (pid %d) still running: a process the job left behind holds its output; it goes on masking, its redactions are not attested", rec.PID)
			continue // it rewrites its record at the end
		default:
			s.logf("job output masker (pid %d) ended without counting its redactions (killed?)", rec.PID)
		}
		_ = os.Remove(path)
	}
	for _, name := range s.listStateFiles(outputFIFOPrefix, ".fifo") {
		_ = os.Remove(filepath.Join(dir, name))
	}
	if err := os.Remove(filepath.Join(dir, exportsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logf("job output: %v", err)
	}
}

// waitMasker reads a masker's record until it is done, its process is
// gone, or the deadline passes.
func waitMasker(ctx context.Context, path string, deadline time.Time) (maskerRecord, error) {
	for {
		var rec maskerRecord
		data, err := readPrivateFile(path, maxMaskerRecord)
		if err != nil {
			return rec, err
		}
		if err := json.Unmarshal(data, &rec); err != nil || rec.PID <= 0 {
			return rec, errors.New("not a masker record")
		}
		if rec.Done || !pidAlive(rec.PID) || !time.Now().Before(deadline) {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return rec, nil
		case <-time.After(drainPoll):
		}
	}
}

// listStateFiles names the state directory's entries with prefix and
// suffix (a temporary file of atomicfile starts with a dot: not listed).
func (s *Session) listStateFiles(prefix, suffix string) []string {
	entries, err := os.ReadDir(s.opts.StateDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

// pidAlive reports whether pid is a live process: not gone, and not a
// zombie that a parent which does not reap leaves behind.
func pidAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	state, _, ok := parseStat(string(stat))
	return ok && state != "Z" && state != "X"
}

// SessionDir is where a command that also works without a session (mask)
// finds one: dir when given, else the default state directory when a
// session was started there, else "".
func SessionDir(dir string, getenv func(string) string) string {
	if dir != "" {
		return dir
	}
	def, err := DefaultStateDir(getenv)
	if err != nil {
		return ""
	}
	if _, err := os.Lstat(filepath.Join(def, stateFile)); err != nil {
		return ""
	}
	return def
}
