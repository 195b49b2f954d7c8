package masking

import (
	"bytes"
	"strings"
)

// An AddMaskMode says what a Writer does with the workflow commands a job
// prints to register secrets: a line that starts (after white space) with
// "::add-mask::VALUE", or holds the legacy "##[add-mask]VALUE". VALUE is
// the rest of the line with GitHub's escapes %25, %0D and %0A undone.
type AddMaskMode int

const (
	// AddMaskOff leaves command lines to be masked as ordinary output.
	AddMaskOff AddMaskMode = iota
	// AddMaskForward registers VALUE with the Set, then passes the command
	// line on unchanged and unmasked, for a runner that consumes it
	// (GitHub Actions: masking the line first would make the runner
	// register the mask token instead). It also follows
	// "::stop-commands::TOKEN" … "::TOKEN::" as the runner does: while
	// commands are stopped the runner prints add-mask lines, so they are
	// masked (and their values still registered), and the lines that stop
	// and resume commands are passed on unmasked so the runner sees them.
	AddMaskForward
	// AddMaskRedact registers VALUE, then passes the line on with VALUE
	// replaced by the mask token (GitLab, a log file: nothing downstream
	// consumes the command).
	AddMaskRedact
)

// maxCommandLine bounds a command line held until its line feed; a longer
// line is ordinary output.
const maxCommandLine = 1 << 20

// WithAddMask makes a Writer watch its input for add-mask commands (see
// AddMaskMode). A command line is held until its line feed, registered,
// and only then passed on, so the value is masked in everything after it;
// bytes that may begin a command at the end of a write (a ':' at the start
// of a line, a prefix of "##[add-mask]") are held until the next write.
func WithAddMask(mode AddMaskMode) WriterOption {
	return func(w *Writer) {
		if mode == AddMaskForward || mode == AddMaskRedact {
			w.cmd = &commands{mode: mode, bol: true}
		}
	}
}

const legacyAddMask = "##[add-mask]"

// commands is a Writer's add-mask state.
type commands struct {
	mode    AddMaskMode
	bol     bool   // only white space since the last line feed (or the start)
	part    []byte // held: may begin a command
	line    []byte // held: a command line, until its line feed
	inLine  bool
	stop    string // the ::stop-commands:: token while commands are stopped
	scratch []byte
}

func (c *commands) buffered() int { return len(c.part) + len(c.line) }

// writeCommands masks p, taking command lines out of the stream.
func (w *Writer) writeCommands(p []byte) {
	c := w.cmd
	b := p
	if len(c.part) > 0 {
		c.scratch = append(append(c.scratch[:0], c.part...), p...)
		b = c.scratch
		c.part = c.part[:0]
	}
	for len(b) > 0 {
		if c.inLine {
			k := bytes.IndexByte(b, '\n')
			if k < 0 {
				c.line = append(c.line, b...)
				if len(c.line) > maxCommandLine {
					// Not a command we hold: ordinary output, up to its
					// line feed.
					w.feedSegment(c.line, false)
					c.line, c.inLine = c.line[:0], false
				}
				return
			}
			c.line = append(c.line, b[:k+1]...)
			b = b[k+1:]
			if len(c.line) > maxCommandLine {
				w.feedSegment(c.line, false)
			} else {
				w.command(c.line)
			}
			c.line, c.inLine, c.bol = c.line[:0], false, true
			continue
		}
		x, partial := c.next(b)
		if x < 0 {
			n := len(b) - partial
			w.feedSegment(b[:n], true)
			c.part = append(c.part[:0], b[n:]...)
			return
		}
		w.feedSegment(b[:x], true)
		c.inLine = true
		b = b[x:]
	}
	if cap(c.scratch) > maxRetained {
		c.scratch = nil
	}
}

// feedSegment masks ordinary output. When b is part of the input, which
// stays unchanged until the Write returns, the output range it leaves in b
// (lo and hi) is copied out only when more output follows (settle), so
// that a write without commands is passed on without a copy. Any other b
// (a held command line, reused as soon as it is handled) is copied out at
// once.
func (w *Writer) feedSegment(b []byte, input bool) {
	if len(b) == 0 {
		return
	}
	w.settle()
	w.cmd.see(b)
	w.feed(b, false)
	w.seg = b
	if !input {
		w.settle()
	}
}

// settle copies the output range of the last segment into out.
func (w *Writer) settle() {
	w.materialize(w.seg)
	w.seg = nil
}

// see tracks whether the stream is at the start of a line.
func (c *commands) see(b []byte) {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		c.bol, b = true, b[i+1:]
	}
	c.bol = c.bol && isBlank(b)
}

func isBlank(b []byte) bool {
	for _, x := range b {
		if x != ' ' && x != '\t' && x != '\r' && x != '\v' && x != '\f' {
			return false
		}
	}
	return true
}

// next returns the offset of the first command in b, or -1 and the number
// of bytes at its end that may begin one.
func (c *commands) next(b []byte) (int, int) {
	x := -1
	for from := 0; ; {
		i := indexPair(b[from:], ':', ':')
		if i < 0 {
			break
		}
		i += from
		if c.lineStart(b, i) {
			x = i
			break
		}
		from = i + 1
	}
	if i := bytes.Index(b, []byte(legacyAddMask)); i >= 0 && (x < 0 || i < x) {
		x = i
	}
	if x >= 0 {
		return x, 0
	}
	partial := 0
	if n := len(b); b[n-1] == ':' && c.lineStart(b, n-1) {
		partial = 1
	}
	for k := min(len(b), len(legacyAddMask)-1); k > partial; k-- {
		if bytes.HasPrefix([]byte(legacyAddMask), b[len(b)-k:]) {
			partial = k
			break
		}
	}
	return -1, partial
}

// lineStart reports whether b[:i] ends with a line start and white space.
func (c *commands) lineStart(b []byte, i int) bool {
	j := i
	for j > 0 && isBlank(b[j-1:j]) {
		j--
	}
	if j == 0 {
		return c.bol
	}
	return b[j-1] == '\n'
}

// command handles a complete command line (with its line feed).
func (w *Writer) command(line []byte) {
	c := w.cmd
	body := bytes.TrimRight(line, "\r\n")
	name, value, legacy := parseCommand(string(body))
	if c.stop != "" {
		if string(body) == "::"+c.stop+"::" {
			c.stop = ""
			w.bypass(line, nil)
			return
		}
		if name == "add-mask" && strings.TrimSpace(value) != "" {
			w.set.Add(value)
		}
		w.feedSegment(line, false)
		return
	}
	switch name {
	case "add-mask":
		if strings.TrimSpace(value) != "" {
			w.set.Add(value)
		}
		if c.mode == AddMaskForward {
			w.bypass(line, nil)
			return
		}
		prefix := "::add-mask::"
		if legacy {
			prefix = legacyAddMask
		}
		w.bypass([]byte(prefix), line[len(body):])
	case "stop-commands":
		if value != "" {
			w.set.Add(value)
			c.stop = value
		}
		if c.mode == AddMaskForward {
			w.bypass(line, nil)
			return
		}
		w.feedSegment(line, false)
	default:
		w.feedSegment(line, false)
	}
}

// bypass ends the masked stream (releasing what it holds) and passes on
// head, then, if eol is not nil, the mask token and eol.
func (w *Writer) bypass(head, eol []byte) {
	w.settle()
	w.feed(nil, true)
	w.out = append(w.out, head...)
	if eol != nil {
		w.token(nil)
		w.out = append(w.out, eol...)
	}
}

// flushCommands passes on what is held as ordinary output.
func (w *Writer) flushCommands() {
	c := w.cmd
	part, line := c.part, c.line
	c.part, c.line, c.inLine = nil, nil, false
	w.feedSegment(part, false)
	w.feedSegment(line, false)
	c.part, c.line = part[:0], line[:0]
}

// parseCommand splits a command line into the command's name and its
// unescaped data: "::name props::data" or "##[add-mask]data" (legacy).
func parseCommand(line string) (name, value string, legacy bool) {
	line = strings.TrimLeft(line, " \t\r\v\f")
	if rest, ok := strings.CutPrefix(line, "::"); ok {
		head, data, ok := strings.Cut(rest, "::")
		if !ok {
			return "", "", false
		}
		name, _, _ = strings.Cut(head, " ")
		return name, UnescapeCommandData(data), false
	}
	if i := strings.Index(line, legacyAddMask); i >= 0 {
		return "add-mask", UnescapeCommandData(line[i+len(legacyAddMask):]), true
	}
	return "", "", false
}

// ParseAddMask returns the secret an add-mask command line registers:
// "::add-mask::VALUE" after optional white space, or "…##[add-mask]VALUE".
// A trailing CR or LF is not part of the value; the escapes %25, %0D and
// %0A are undone (other %XX sequences are kept, as the runner keeps them).
func ParseAddMask(line string) (value string, ok bool) {
	name, v, _ := parseCommand(strings.TrimRight(line, "\r\n"))
	if name != "add-mask" {
		return "", false
	}
	return v, true
}

// UnescapeCommandData undoes the escaping of workflow command data: %0D is
// CR, %0A is LF and %25 is '%'.
func UnescapeCommandData(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+3 <= len(s) {
			switch s[i+1 : i+3] {
			case "25":
				b.WriteByte('%')
				i += 2
				continue
			case "0D":
				b.WriteByte('\r')
				i += 2
				continue
			case "0A":
				b.WriteByte('\n')
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
