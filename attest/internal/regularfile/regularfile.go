// Package regularfile reads the files the attest packages are given (keys,
// bundles, trusted roots) only when they are regular files, and only up to
// a bound. The attest packages import nothing else of this module, so they
// keep their own copy of the rule chaperone's internal/regularfile applies.
package regularfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ReadFile reads at most limit bytes of a regular file, failing if it is
// larger or not a regular file (a named pipe would block the reader, a
// device could feed it for ever).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file is larger than %d bytes", limit)
	}
	return data, nil
}

// open opens path for reading if it is a regular file (after following
// symlinks); otherwise it returns an *fs.PathError saying what the file is.
// Opening cannot block: the open is made with O_NONBLOCK, which a named
// pipe would otherwise wait in for a writer, and the kind of file is then
// read from the open descriptor. O_NONBLOCK does not change how a regular
// file reads.
func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() {
		f.Close()
		kind := "an irregular file"
		switch {
		case m&fs.ModeNamedPipe != 0:
			kind = "a named pipe"
		case m&fs.ModeDevice != 0:
			kind = "a device"
		case m.IsDir():
			kind = "a directory"
		case m&fs.ModeSocket != 0:
			kind = "a socket"
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a regular file (%s)", kind)}
	}
	return f, nil
}
