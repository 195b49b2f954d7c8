package agent

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// The GitHub Action runs in a container that is gone when its step ends.
// What must outlive it (the chaperone binary for later steps, the started
// Session for the post step) goes into a directory the runner shares with
// the job's later steps, the action home.
//
// The Session's state holds live credentials and decides what post
// revokes and signs. It is kept there sealed: encrypted and authenticated
// with a random key (AES-256-GCM) that main hands to the runner through
// GITHUB_STATE and the runner gives back to post alone, as STATE_key. The
// sealed file lives in a directory that belongs to the container's user
// (root) with mode 0700, so a later step running as the runner's user can
// neither read it nor change it unnoticed: it can only move the directory
// away, and a replacement it makes is not root's. Where the runner gives
// a container action's post step no STATE_* (nektos/act), the key is kept
// next to the sealed file instead, and only those ownership checks stand.

// Paths and names of the action home.
const (
	// containerHome is the job's home as GitHub's runner mounts it into a
	// container action: $RUNNER_TEMP/_github_home on the runner host.
	containerHome    = "/github/home"
	runnerHomeSubdir = "_github_home"
	actionDirName    = ".chaperone"
	actionBinDir     = "bin"
	sealedStateFile  = "session.sealed"
	stateKeyFile     = "key"
	// stateKeyName is the GITHUB_STATE entry holding the key (STATE_key
	// in post); stateDirName the one naming the sealed session's
	// directory.
	stateKeyName = "key"
	stateDirName = "dir"
	stateKeyLen  = 32
)

// actionHome is where the action keeps what outlives its container.
type actionHome struct {
	// Dir is the directory as this process sees it; HostDir the same
	// directory as the job's later steps see it (GITHUB_PATH entries
	// are read on the runner host).
	Dir, HostDir string
	// KeyOnDisk says the runner does not give a container action's post
	// step its GITHUB_STATE, so the key is kept with the sealed state.
	KeyOnDisk bool
}

// findActionHome locates the action home from the environment the runner
// gives a container action: GitHub's runner sets HOME=/github/home, a
// mount of $RUNNER_TEMP/_github_home; nektos/act (ACT=true) keeps its file
// commands in a volume mounted at the same path in every container of the
// job, and passes no STATE_* to a container action's post step.
func findActionHome(getenv func(string) string) (actionHome, error) {
	switch {
	case getenv("HOME") == containerHome:
		temp := getenv("RUNNER_TEMP")
		if temp == "" || !filepath.IsAbs(temp) {
			return actionHome{}, &ConfigError{Msg: "action: RUNNER_TEMP is not an absolute path: the runner host's path of " + containerHome + " is unknown"}
		}
		if fi, err := os.Stat(containerHome); err != nil || !fi.IsDir() {
			return actionHome{}, &ConfigError{Msg: "action: " + containerHome + " is not mounted (run chaperone action as the GitHub Action's container)"}
		}
		return actionHome{
			Dir:     filepath.Join(containerHome, actionDirName),
			HostDir: filepath.Join(temp, runnerHomeSubdir, actionDirName),
		}, nil
	case getenv("ACT") == "true" && filepath.IsAbs(getenv("GITHUB_ENV")):
		shared := filepath.Dir(filepath.Dir(getenv("GITHUB_ENV")))
		dir := filepath.Join(shared, actionDirName)
		return actionHome{Dir: dir, HostDir: dir, KeyOnDisk: true}, nil
	}
	return actionHome{}, &ConfigError{Msg: "action: not running as the GitHub Action's container (HOME is not " + containerHome + "); in a run: step use `chaperone start --shell github` or `chaperone run`"}
}

// stepNameUnsafe are the characters of GITHUB_ACTION (the step's id, which
// main and post share) that a state directory's name does not keep.
var stepNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// stateDir is the directory of the sealed Session of the step that
// GITHUB_ACTION names, so several uses of the action in one job keep
// apart.
func (h actionHome) stateDir(getenv func(string) string) string {
	name := stepNameUnsafe.ReplaceAllString(getenv("GITHUB_ACTION"), "_")
	if name == "" {
		name = "step"
	}
	return filepath.Join(h.Dir, "state-"+name)
}

// prepare creates the action home and its bin directory (0755: later
// steps run the binary) or checks the ones that exist: real directories
// of this user that nobody else can write.
func (h actionHome) prepare() error {
	for _, dir := range []string{h.Dir, filepath.Join(h.Dir, actionBinDir)} {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("action home: %w", err)
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("action home: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("action home: %s is not a directory; refusing it", dir)
		}
		if err := ownedByMe(dir, fi); err != nil {
			return fmt.Errorf("action home: %w", err)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("action home: %s can be written by other users (mode %04o); refusing it", dir, fi.Mode().Perm())
		}
	}
	return nil
}

// installBinary copies the executable exe into the home's bin directory
// (replacing an earlier copy atomically) and returns that directory as
// the job's later steps see it, for GITHUB_PATH.
func (h actionHome) installBinary(exe string) (string, error) {
	data, err := os.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("installing chaperone: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(h.Dir, actionBinDir, "chaperone"), data, 0o755); err != nil {
		return "", fmt.Errorf("installing chaperone: %w", err)
	}
	return filepath.Join(h.HostDir, actionBinDir), nil
}

// newStateKey returns a fresh random key for sealing a Session, encoded
// for GITHUB_STATE.
func newStateKey() string {
	key := make([]byte, stateKeyLen)
	_, _ = rand.Read(key)
	return base64.RawURLEncoding.EncodeToString(key)
}

// sealedAAD binds a sealed state to its format and to the step whose
// directory holds it, so one step's state cannot stand in for another's.
func sealedAAD(dir string) []byte {
	return []byte("chaperone action state v1\x00" + filepath.Base(dir))
}

// sealState encrypts and authenticates plain with key into dir/session.sealed
// (dir created 0700, or checked; the file 0600). With keyOnDisk the key is
// written next to it.
func sealState(dir, key string, plain []byte, keyOnDisk bool) error {
	aead, err := stateAEAD(key)
	if err != nil {
		return err
	}
	if err := makePrivateDir(dir); err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, plain, sealedAAD(dir))
	if keyOnDisk {
		if err := atomicfile.Write(filepath.Join(dir, stateKeyFile), []byte(key), 0o600); err != nil {
			return err
		}
	}
	return atomicfile.Write(filepath.Join(dir, sealedStateFile), sealed, 0o600)
}

// errStateTampered is the verdict on a sealed state that does not open
// with its key: modified, replaced, or sealed with another key.
var errStateTampered = errors.New("the sealed session does not match its key: it was modified or replaced after main saved it")

// openState checks dir (a real directory of this user, mode 0700) and its
// sealed file (a regular file of this user, no access for others) and
// returns the state it holds, authenticated with key; with key "" the key
// is read from the file beside it (where the runner keeps no STATE_*).
func openState(dir, key string) ([]byte, error) {
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	if key == "" {
		k, err := readPrivateFile(filepath.Join(dir, stateKeyFile), 1<<10)
		if err != nil {
			return nil, fmt.Errorf("state key: %w", err)
		}
		key = string(k)
	}
	aead, err := stateAEAD(key)
	if err != nil {
		return nil, err
	}
	sealed, err := readPrivateFile(filepath.Join(dir, sealedStateFile), maxStateBytes+int64(aead.NonceSize()+aead.Overhead()))
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errStateTampered
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], sealedAAD(dir))
	if err != nil {
		return nil, errStateTampered
	}
	return plain, nil
}

func stateAEAD(key string) (cipher.AEAD, error) {
	k, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(k) != stateKeyLen {
		return nil, errors.New("the state key is not a key chaperone made")
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
