// Package regularfile opens the files chaperone is given to read (a config,
// a policy, an identity token, an artifact to verify) only when they are
// regular files: a named pipe or a device in their place is refused at once
// instead of blocking the reader, or feeding it for ever.
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Open opens path for reading if it is a regular file (after following
// symlinks); otherwise it returns an *fs.PathError saying what the file is.
// Opening cannot block: the open is made with O_NONBLOCK, which a named
// pipe would otherwise wait in for a writer, and the kind of file is then
// read from the open descriptor, so it is the file that will be read.
// O_NONBLOCK does not change how a regular file reads.
func Open(path string) (*os.File, error) {
	return open(path, 0)
}

// OpenNoFollow is Open for a file that must not be reached through a
// symbolic link (a file that decides what chaperone does, in a directory
// another user might have prepared): a link in its place is refused.
func OpenNoFollow(path string) (*os.File, error) {
	f, err := open(path, syscall.O_NOFOLLOW)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("is a symbolic link; refusing it")}
	}
	return f, err
}

// ReadAll reads at most limit bytes of f (named path in errors), failing
// if it holds more.
func ReadAll(f *os.File, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

func open(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flag, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", Kind(fi.Mode()))}
	}
	return f, nil
}

// Kind names the kind of file a mode describes: "a named pipe", "a
// device", "a directory", "a socket", or "a regular file".
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsRegular():
		return "a regular file"
	}
	return "an irregular file"
}
