package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// ExportShell writes, for a POSIX shell to eval, `unset NAME` for each
// variable chaperone consumed (as Environ drops them) and `export
// NAME='value'` lines of DeliveredEnv.
func (s *Session) ExportShell(w io.Writer) error {
	// The variables chaperone consumed (the job's ID tokens, a client
	// secret) leave the shell, as they leave a wrapped command's
	// environment.
	for _, name := range s.cfg.droppedEnv() {
		if provider.CheckEnvName("variable", name) != nil {
			continue // never a shell word that is not a plain name
		}
		if _, err := fmt.Fprintf(w, "unset %s\n", name); err != nil {
			return err
		}
	}
	for _, kv := range s.DeliveredEnv() {
		name, val, _ := strings.Cut(kv, "=")
		if _, err := fmt.Fprintf(w, "export %s='%s'\n", name, strings.ReplaceAll(val, "'", `'\''`)); err != nil {
			return err
		}
	}
	return nil
}

// ExportGitHub registers every secret with the runner before appending
// DeliveredEnv to the GITHUB_ENV file, so no later step can print a value
// the runner does not mask: one ::add-mask:: on w (the step's stdout) for
// each secret and each form the masker derives from it (its lines and
// encodings), since the runner masks only the strings it is given. Each
// variable gets a random heredoc delimiter (go-githubactions' SetEnv
// writes a fixed one, which a value could contain to end its entry early
// and set other variables).
func (s *Session) ExportGitHub(w io.Writer, githubEnv string) error {
	if githubEnv == "" {
		return &ConfigError{Msg: "GITHUB_ENV is not set: --shell github works only in a GitHub Actions step"}
	}
	if err := s.addMasks(w, s.Secrets()); err != nil {
		return err
	}
	f, err := os.OpenFile(githubEnv, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return &AgentError{Err: fmt.Errorf("GITHUB_ENV: %w", err)}
	}
	defer f.Close()
	for _, kv := range s.DeliveredEnv() {
		name, val, _ := strings.Cut(kv, "=")
		delim := "ghadelimiter_" + randomHex(16)
		if strings.Contains(val, delim) {
			return &AgentError{Err: fmt.Errorf("GITHUB_ENV: the value of %s contains its delimiter", name)}
		}
		if _, err := fmt.Fprintf(f, "%s<<%s\n%s\n%s\n", name, delim, val, delim); err != nil {
			return &AgentError{Err: fmt.Errorf("GITHUB_ENV: %w", err)}
		}
	}
	return f.Close()
}

// addMasks registers secrets with the GitHub runner: ::add-mask:: on w
// (through go-githubactions) for each secret and each of its variants,
// every string once.
func (s *Session) addMasks(w io.Writer, secrets []string) error {
	gha := githubactions.New(githubactions.WithWriter(w))
	seen := map[string]bool{}
	return ghaDo("::add-mask::", func() {
		for _, v := range secrets {
			for _, m := range append([]string{v}, s.masks.Variants(v)...) {
				if m != "" && !seen[m] {
					seen[m] = true
					gha.AddMask(m)
				}
			}
		}
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
