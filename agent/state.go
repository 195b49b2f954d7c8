package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
)

const (
	stateVersion = 1
	stateFile    = "session.json"
	// maxStateBytes bounds what Resume reads back.
	maxStateBytes = 16 << 20
)

// state is everything a Session must carry from start to stop. It holds
// secrets (grant tokens, the values to mask), so it lives only in a 0700
// directory as a 0600 file, and stop removes it.
type state struct {
	Version      int              `json:"version"`
	Config       []byte           `json:"config"`
	ConfigSource string           `json:"configSource"`
	Platform     string           `json:"platform"`
	Job          attest.Job       `json:"job"`
	Identity     attest.Identity  `json:"identity"`
	StartedAt    time.Time        `json:"startedAt"`
	Grants       []*grantState    `json:"grants"`
	Refused      []attest.Refusal `json:"refused,omitempty"`
	Steps        []attest.Step    `json:"steps,omitempty"`
	Redactions   int              `json:"redactions"`
	Secrets      []string         `json:"secrets"`
	FileDir      string           `json:"fileDir,omitempty"`
	Failure      string           `json:"failure,omitempty"`
}

type grantState struct {
	Scope      string             `json:"scope"`
	Provider   string             `json:"provider"`
	Delivery   string             `json:"delivery"`
	Grant      provider.Grant     `json:"grant"`
	Files      map[string]string  `json:"files,omitempty"`    // value name → path, file delivery
	Public     []provider.Value   `json:"public,omitempty"`   // non-secret settings (region, project)
	Fetches    []attest.Fetch     `json:"fetches,omitempty"`  // endpoint reads
	Replaced   []attest.Refresh   `json:"replaced,omitempty"` // credentials a refresh replaced
	Revocation *attest.Revocation `json:"revocation,omitempty"`
}

// Save persists the Session to Options.StateDir (created 0700; the file is
// written 0600 and replaced atomically).
func (s *Session) Save() error {
	dir := s.opts.StateDir
	if dir == "" {
		return errors.New("agent: no state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	s.mu.Lock()
	data, err := json.Marshal(s.st)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
}

// Resume loads a Session that Start and Save left in opts.StateDir.
// opts.Config is ignored: the started Session's config is used, so stop
// acts on exactly what start issued.
func Resume(opts Options) (*Session, error) {
	if opts.StateDir == "" {
		return nil, &ConfigError{Msg: "no state directory given (--state-dir or CHAPERONE_STATE_DIR)"}
	}
	path := filepath.Join(opts.StateDir, stateFile)
	data, err := readBounded(path, maxStateBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &ConfigError{Msg: fmt.Sprintf("no started session in %s (run `chaperone start` first)", opts.StateDir)}
		}
		return nil, fmt.Errorf("state: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state %s: corrupt: %v", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state %s: version %d, this chaperone reads %d", path, st.Version, stateVersion)
	}
	cfg, err := ParseConfig(st.Config, st.ConfigSource)
	if err != nil {
		return nil, err
	}
	opts.Config = cfg
	s, err := NewSession(opts)
	if err != nil {
		return nil, err
	}
	s.st = &st
	s.masks.Add(st.Secrets...)
	return s, nil
}

// removeState deletes the state directory's session file, then the
// directory if it is empty.
func (s *Session) removeState() error {
	if s.opts.StateDir == "" {
		return nil
	}
	if err := os.Remove(filepath.Join(s.opts.StateDir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(s.opts.StateDir)
	return nil
}
