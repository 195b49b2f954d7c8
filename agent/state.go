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
	// Canceled: a signal asked the agent to stop while a command ran.
	Canceled bool `json:"canceled,omitempty"`
}

type grantState struct {
	Scope      string             `json:"scope"`
	Provider   string             `json:"provider"`
	Delivery   string             `json:"delivery"`
	Grant      provider.Grant     `json:"grant"`
	Files      map[string]string  `json:"files,omitempty"`    // value name → path, file delivery
	Public     []provider.Value   `json:"public,omitempty"`   // non-secret settings (region, project)
	Fetches    []attest.Fetch     `json:"fetches,omitempty"`  // endpoint reads
	Replaced   []replacedGrant    `json:"replaced,omitempty"` // credentials a refresh replaced
	Revocation *attest.Revocation `json:"revocation,omitempty"`
}

// replacedGrant is a credential an endpoint renewal replaced. Grant (what
// Revoke needs) is kept until the revocation is settled, so a process
// killed between renewal and revocation leaves the work to Stop.
type replacedGrant struct {
	attest.Refresh
	Grant *provider.Grant `json:"grant,omitempty"`
}

// Save persists the Session to Options.StateDir: a directory only the
// effective user can write (created 0700), the file written 0600 and
// replaced atomically.
func (s *Session) Save() error {
	dir := s.opts.StateDir
	if dir == "" {
		return errors.New("agent: no state directory")
	}
	if err := makePrivateDir(dir); err != nil {
		return err
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
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
}

// persist saves the Session when it has a state directory, so a process
// that is killed leaves stop the truth.
func (s *Session) persist() error {
	if s.opts.StateDir == "" {
		return nil
	}
	return s.Save()
}

// Resume loads a Session that Start and Save left in opts.StateDir. The
// directory and file must be the effective user's alone (see
// checkPrivateDir). opts.Config is ignored: the started Session's config is
// used, so stop acts on exactly what start issued.
func Resume(opts Options) (*Session, error) {
	if opts.StateDir == "" {
		return nil, &ConfigError{Msg: "no state directory given (--state-dir or CHAPERONE_STATE_DIR)"}
	}
	if _, err := os.Lstat(opts.StateDir); errors.Is(err, os.ErrNotExist) {
		return nil, &ConfigError{Msg: fmt.Sprintf("no started session in %s (run `chaperone start` first)", opts.StateDir)}
	}
	if err := checkPrivateDir(opts.StateDir); err != nil {
		return nil, &ConfigError{Msg: err.Error()}
	}
	path := filepath.Join(opts.StateDir, stateFile)
	data, err := readPrivateFile(path, maxStateBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &ConfigError{Msg: fmt.Sprintf("no started session in %s (run `chaperone start` first)", opts.StateDir)}
		}
		return nil, &ConfigError{Msg: "state: " + err.Error()}
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

// checkNoOpenSession refuses to start a Session where one is already
// open: starting over it would orphan the first one's credentials.
func (s *Session) checkNoOpenSession() error {
	if s.opts.StateDir == "" {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(s.opts.StateDir, stateFile)); err != nil {
		return nil // none open (a directory that cannot be used fails in Save)
	}
	return &ConfigError{Msg: fmt.Sprintf("a session is already open in %s: run `chaperone stop` first (it revokes that session's credentials), or give another --state-dir", s.opts.StateDir)}
}

// removeState deletes the session file, then the directory if it is
// empty: stop removes nothing else from a directory it was given.
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
