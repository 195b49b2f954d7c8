//go:build unix

package regularfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for path, kind := range map[string]string{fifo: "a named pipe", os.DevNull: "a device", dir: "a directory"} {
		done := make(chan error, 1)
		go func() {
			f, err := Open(path)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file ("+kind+")") || !strings.Contains(err.Error(), path) {
				t.Errorf("Open(%s) = %v, want it named %s, not a regular file", path, err, kind)
			}
		case <-time.After(10 * time.Second):
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				f.Close() // releases an open blocked on the FIFO
			}
			t.Fatalf("Open(%s) blocked", path)
		}
	}
}

func TestOpenReadsARegularFileThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	f, err := Open(link)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, err := io.ReadAll(f); err != nil || string(b) != "data" {
		t.Errorf("read %q, %v", b, err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not-exist", err)
	}
}

func TestOpenNoFollowAndReadAll(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenNoFollow(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("OpenNoFollow(link) = %v, want a refusal", err)
	}
	f, err := OpenNoFollow(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ReadAll(f, file, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("ReadAll past the limit = %v", err)
	}
}
