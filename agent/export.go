package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// ExportShell writes `export NAME='value'` lines of DeliveredEnv for a
// POSIX shell to eval.
func (s *Session) ExportShell(w io.Writer) error {
	for _, kv := range s.DeliveredEnv() {
		name, val, _ := strings.Cut(kv, "=")
		if _, err := fmt.Fprintf(w, "export %s='%s'\n", name, strings.ReplaceAll(val, "'", `'\''`)); err != nil {
			return err
		}
	}
	return nil
}

// ExportGitHub registers every secret with the runner (::add-mask:: on w,
// the step's stdout) before appending DeliveredEnv to the GITHUB_ENV file,
// so no later step can print a value the runner does not mask.
func (s *Session) ExportGitHub(w io.Writer, githubEnv string) error {
	if githubEnv == "" {
		return &ConfigError{Msg: "GITHUB_ENV is not set: --shell github works only in a GitHub Actions step"}
	}
	for _, v := range s.Secrets() {
		if _, err := fmt.Fprintf(w, "::add-mask::%s\n", escapeWorkflowData(v)); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(githubEnv, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return &AgentError{Err: fmt.Errorf("GITHUB_ENV: %w", err)}
	}
	defer f.Close()
	for _, kv := range s.DeliveredEnv() {
		name, val, _ := strings.Cut(kv, "=")
		delim := "ghadelimiter_" + randomHex(16)
		if _, err := fmt.Fprintf(f, "%s<<%s\n%s\n%s\n", name, delim, val, delim); err != nil {
			return &AgentError{Err: fmt.Errorf("GITHUB_ENV: %w", err)}
		}
	}
	return nil
}

// escapeWorkflowData escapes a value for a GitHub workflow command.
func escapeWorkflowData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
