package masking

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseAddMask(t *testing.T) {
	for _, c := range []struct {
		line, value string
		ok          bool
	}{
		{"::add-mask::s3cret\n", "s3cret", true},
		{"  \t::add-mask::s3cret\r\n", "s3cret", true},
		{"::add-mask::abc%0Ddef%0Aghi%0D%0Ajkl", "abc\rdef\nghi\r\njkl", true},
		{"::add-mask::100%25%35", "100%%35", true}, // only %25, %0D, %0A
		{"::add-mask::%250A", "%0A", true},
		{"::add-mask::", "", true},
		{"log ##[add-mask]legacy-value", "legacy-value", true},
		{"::set-output name=x::y", "", false},
		{"x ::add-mask::y", "", false},
		{"add-mask::y", "", false},
	} {
		v, ok := ParseAddMask(c.line)
		if v != c.value || ok != c.ok {
			t.Errorf("ParseAddMask(%q) = %q, %v; want %q, %v", c.line, v, ok, c.value, c.ok)
		}
	}
}

// streamCommands writes chunks to a Writer with add-mask handling and
// returns its output.
func streamCommands(t *testing.T, set *Set, mode AddMaskMode, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := set.NewWriter(&out, WithAddMask(mode))
	for _, c := range chunks {
		mustWrite(t, w, c)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestAddMask(t *testing.T) {
	input := "before s3cret-one\n" +
		"  ::add-mask::s3cret-one\n" +
		"after s3cret-one\n" +
		"::add-mask::multi%0Aline-value%25x\n" +
		"line-value%x multi\n" +
		"note ##[add-mask]legacy-secret\n" +
		"legacy-secret ::add-mask::not-a-command\n" +
		"not-a-command ::\n" +
		"::warning::s3cret-one\n" +
		"::add-mask::   \n" +
		"end s3cret-one"
	forward := "before s3cret-one\n" + // registered after: not retracted
		"  ::add-mask::s3cret-one\n" + // for the runner, unmasked
		"after #\n" +
		"::add-mask::multi%0Aline-value%25x\n" +
		"# #\n" + // lines of the value, '%' unescaped
		"note ##[add-mask]legacy-secret\n" +
		"# ::add-mask::not-a-command\n" +
		"not-a-command ::\n" +
		"::warning::#\n" +
		"::add-mask::   \n" +
		"end #"
	redact := strings.NewReplacer("::add-mask::s3cret-one", "::add-mask::#", "::add-mask::multi%0Aline-value%25x",
		"::add-mask::#", "##[add-mask]legacy-secret", "##[add-mask]#", "::add-mask::   ", "::add-mask::#").Replace(forward)
	for mode, want := range map[AddMaskMode]string{AddMaskForward: forward, AddMaskRedact: redact} {
		for _, chunks := range [][]string{{input}, strings.Split(input, ""), splitAt(input, 20, 21, 22, 60, 61, 100, 140, 200)} {
			set := NewSet(Options{Mask: "#", Detectors: []string{}})
			if got := streamCommands(t, set, mode, chunks...); got != want {
				t.Fatalf("mode %d, writes %q:\n got %q\nwant %q", mode, chunks, got, want)
			}
		}
	}
	// Off: command lines are ordinary output.
	set := NewSet(Options{Mask: "#"})
	if got := streamCommands(t, set, AddMaskOff, input); got != input {
		t.Fatalf("off: %q", got)
	}
}

// Command lines that are output follow one another in one write without
// one overwriting the other, and a value registered after them is masked.
func TestConsecutiveCommandLines(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"::debug::aaaa\n::debug::bb\n", "::debug::aaaa\n::debug::bb\n"},
		{"::debug::aaaa\n::group::", "::debug::aaaa\n::group::"},
		{"::debug::aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n::add-mask::TopSecretValue\nTopSecretValue\n",
			"::debug::aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n::add-mask::#\n#\n"},
	} {
		for _, mode := range []AddMaskMode{AddMaskRedact, AddMaskForward} {
			want := c.want
			if mode == AddMaskForward {
				want = strings.ReplaceAll(want, "::add-mask::#", "::add-mask::TopSecretValue")
			}
			set := NewSet(Options{Mask: "#", Detectors: []string{}})
			if got := streamCommands(t, set, mode, c.in); got != want {
				t.Errorf("mode %d, %q:\n got %q\nwant %q", mode, c.in, got, want)
			}
		}
	}
}

// While the runner's commands are stopped it prints add-mask lines, so
// they are masked (their values still registered); the lines that stop and
// resume commands reach the runner unmasked.
func TestStopCommands(t *testing.T) {
	in := "::stop-commands::pause-token-1\n" +
		"::add-mask::hidden-value\n" +
		"hidden-value\n" +
		"::pause-token-1::\n" +
		"pause-token-1 hidden-value\n" +
		"::add-mask::another-one\n" +
		"another-one\n"
	want := "::stop-commands::pause-token-1\n" +
		"::add-mask::#\n" +
		"#\n" +
		"::pause-token-1::\n" +
		"# #\n" +
		"::add-mask::another-one\n" +
		"#\n"
	for _, chunks := range [][]string{{in}, strings.Split(in, "")} {
		set := NewSet(Options{Mask: "#", Detectors: []string{}})
		if got := streamCommands(t, set, AddMaskForward, chunks...); got != want {
			t.Fatalf("writes %q:\n got %q\nwant %q", chunks, got, want)
		}
	}
}

// Bytes that may begin a command are held until they can be decided, and
// nothing else is.
func TestAddMaskHolds(t *testing.T) {
	set := NewSet(Options{Mask: "#", Detectors: []string{}})
	var rec recorder
	w := set.NewWriter(&rec, WithAddMask(AddMaskRedact))
	step := func(in, out string, held int) {
		t.Helper()
		before := len(rec.writes)
		mustWrite(t, w, in)
		if got := strings.Join(rec.writes[before:], ""); got != out || w.Buffered() != held {
			t.Fatalf("Write(%q): passed on %q holding %d, want %q holding %d", in, got, w.Buffered(), out, held)
		}
	}
	step("plain line\n", "plain line\n", 0)
	step("  :", "  ", 1)
	step(":add-mask::sec", "", 15)
	step("ret-value\nsecret-value!\n", "::add-mask::#\n#!\n", 0)
	step("x ##[add-m", "x ", 8)
	step("ore]", "##[add-more]", 0)
	step("mid: line\n", "mid: line\n", 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Flush passes on a held partial command as output.
	w = set.NewWriter(&rec, WithAddMask(AddMaskForward))
	before := len(rec.writes)
	mustWrite(t, w, "::add-mask::unfinished")
	if err := w.Flush(); err != nil || strings.Join(rec.writes[before:], "") != "::add-mask::unfinished" {
		t.Fatalf("Flush: %v %q", err, rec.writes[before:])
	}
}

// A command line longer than the cap is ordinary output.
func TestAddMaskLongLine(t *testing.T) {
	set := NewSet(Options{Mask: "#", Detectors: []string{}})
	long := "::add-mask::" + strings.Repeat("x", maxCommandLine) + "\n"
	if got := streamCommands(t, set, AddMaskForward, long[:100], long[100:]); got != long || set.Len() != 0 {
		t.Fatalf("a %d-byte line: %d bytes out, %d secrets", len(long), len(got), set.Len())
	}
}
