//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest/sign"
)

// TestVerifyRefusesNonRegularFiles gives verify a FIFO (nobody writes to
// it, so reading it would block for ever) or a device in the place of each
// file it reads: it must refuse at once, exit 2, with one line naming the
// file.
func TestVerifyRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	_, pub, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pub")
	artifact := filepath.Join(dir, "artifact")
	bundle := filepath.Join(dir, "bundle.json")
	for path, data := range map[string][]byte{key: pub, artifact: []byte("x"), bundle: []byte("{}")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	digest := "sha256:" + strings.Repeat("0", 64)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bundle fifo", []string{"verify", fifo, "--key", key, "--digest", digest}, "named pipe"},
		{"bundle device", []string{"verify", os.DevNull, "--key", key, "--digest", digest}, "device"},
		{"bundle directory", []string{"verify", dir, "--key", key, "--digest", digest}, "directory"},
		{"key", []string{"verify", bundle, "--key", fifo, "--digest", digest}, "named pipe"},
		{"trusted root", []string{"verify", bundle, "--key", key, "--trusted-root", fifo, "--digest", digest}, "named pipe"},
		{"artifact", []string{"verify", bundle, "--key", key, "--artifact", fifo}, "named pipe"},
		{"policy", []string{"verify", bundle, "--key", key, "--digest", digest, "--policy", fifo}, "named pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(context.Background(), append([]string{"chaperone"}, tc.args...), strings.NewReader(""), &out, &errb)
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				// Opening the FIFO for writing too releases a reader
				// blocked in open, so the goroutine can end.
				if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
					f.Close()
				}
				t.Fatalf("verify %q still reading after 10s", tc.args)
			}
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) || !strings.Contains(lines[0], "not a regular file") {
				t.Errorf("verify %q: exit %d, stderr %q; want 2 and one line saying it is a %s, not a regular file", tc.args, code, errb.String(), tc.want)
			}
		})
	}
}
