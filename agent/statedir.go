package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/chaperone-ci/chaperone/internal/regularfile"
)

// A started Session's state holds live credentials and decides what stop
// revokes and signs, so its directory and file must be the effective
// user's alone: anyone who can plant or swap them can make stop revoke
// nothing and sign what they wrote.

// DefaultStateDir is where start, stop and mask meet when no --state-dir
// is given: $RUNNER_TEMP/chaperone on GitHub (private to the job), else a
// directory under the user's own runtime or state directory
// ($XDG_RUNTIME_DIR, $XDG_STATE_HOME or ~/.local/state), never the shared
// temporary directory where another user could create it first. GitLab
// jobs get a directory per job id, so concurrent jobs of one user do not
// meet.
func DefaultStateDir(getenv func(string) string) (string, error) {
	if d := getenv("RUNNER_TEMP"); d != "" {
		return filepath.Join(d, "chaperone"), nil
	}
	base := getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = getenv("XDG_STATE_HOME")
	}
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			return "", &ConfigError{Msg: "no private directory for the session: set --state-dir (or HOME, XDG_RUNTIME_DIR)"}
		}
		base = filepath.Join(home, ".local", "state")
	}
	job := "session"
	if id := getenv("CI_JOB_ID"); id != "" && getenv("GITLAB_CI") == "true" {
		job = "gitlab-job-" + filepath.Base(filepath.Clean("/"+id))
	}
	return filepath.Join(base, "chaperone", job), nil
}

// makePrivateDir creates dir (and missing parents, 0700) or checks the one
// that exists with checkPrivateDir.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	return checkPrivateDir(dir)
}

// checkPrivateDir refuses a directory that is a symbolic link, is not
// owned by the effective user, or that other users can write; one that
// others can only read or enter is narrowed to 0700.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("state dir %s is a symbolic link; refusing it (give a real directory)", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state dir %s is not a directory", dir)
	}
	if err := ownedByMe(dir, fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state dir %s can be written by other users (mode %04o); refusing it", dir, fi.Mode().Perm())
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state dir %s: %w", dir, err)
		}
	}
	return nil
}

// ownedByMe refuses a file whose owner is not the effective user.
func ownedByMe(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // no owner to check on this system
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d); refusing it", path, st.Uid, euid)
	}
	return nil
}

// readPrivateFile reads at most limit bytes of a regular file that only
// the effective user can write, without following a symbolic link or
// blocking on a FIFO.
func readPrivateFile(path string, limit int64) ([]byte, error) {
	f, err := regularfile.OpenNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := ownedByMe(path, fi); err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o); refusing it", path, fi.Mode().Perm())
	}
	return regularfile.ReadAll(f, path, limit)
}
