package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// splitAcrossStreams is a script that prints $DB_PASSWORD (n bytes) on
// lines of its own: whole to stdout, whole to stderr, then for every k its
// first k bytes to stdout and the rest to stderr, then one byte at a time
// to stdout and stderr in turn.
func splitAcrossStreams(n int) string {
	var b strings.Builder
	b.WriteString(`printf '%s\n' "$DB_PASSWORD"; printf '%s\n' "$DB_PASSWORD" >&2;`)
	for k := 1; k < n; k++ {
		fmt.Fprintf(&b, ` printf '%%s' "$DB_PASSWORD" | head -c %d; printf '%%s\n' "$DB_PASSWORD" | tail -c +%d >&2;`, k, k+1)
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, ` printf '%%s' "$DB_PASSWORD" | cut -b %d | tr -d '\n' >&%d;`, i, 1+i%2)
	}
	b.WriteString(` echo`)
	return b.String()
}

// stdout and stderr of one log: when both reach one destination (one
// writer, or two files that are one pipe, as a CI runner's log), a secret
// printed partly to each, at every split and byte by byte, is masked: the
// two streams are masked as one, in write order.
func TestRunMasksStreamsOfOneDestinationAsOne(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	secret := envMap(s.Environ())("DB_PASSWORD")
	script := splitAcrossStreams(len(secret))
	check := func(name, out string) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(secret)+2 {
			t.Fatalf("%s: %d lines, want %d: %q", name, len(lines), len(secret)+2, out)
		}
		for i, l := range lines {
			if l != "***" {
				t.Errorf("%s: line %d is %q, want the mask alone", name, i, l)
			}
		}
	}

	// One writer.
	var out bytes.Buffer
	code, err := s.Run(context.Background(), []string{"sh", "-c", script}, nil, &out, &out)
	if err != nil || code != 0 {
		t.Fatalf("run: %d, %v", code, err)
	}
	check("one writer", out.String())

	// Two files, one pipe (chaperone's stdout and stderr on a runner).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w2 := os.NewFile(uintptr(fd), "stderr")
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		read <- string(b)
	}()
	code, err = s.Run(context.Background(), []string{"sh", "-c", script}, nil, w, w2)
	w.Close()
	w2.Close()
	if err != nil || code != 0 {
		t.Fatalf("run: %d, %v", code, err)
	}
	check("one pipe", <-read)

	// Two destinations: each stream is masked on its own; what the other
	// stream holds is not its business.
	var o, e bytes.Buffer
	if _, err := s.Run(context.Background(), []string{"sh", "-c", `printf '%s\n' "$DB_PASSWORD"; printf '%s\n' "$DB_PASSWORD" >&2`}, nil, &o, &e); err != nil {
		t.Fatal(err)
	}
	if o.String() != "***\n" || e.String() != "***\n" {
		t.Errorf("two destinations: stdout %q, stderr %q", o.String(), e.String())
	}
}
