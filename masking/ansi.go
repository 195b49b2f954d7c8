package masking

import (
	"bytes"
	"encoding/binary"
)

// ANSI-aware matching. Terminal escape sequences are invisible to the
// matcher: a secret printed with colour changes inside it still matches.
// Invisible are every ESC byte and, after "ESC [", the CSI sequence it
// starts: parameter and intermediate bytes (0x20-0x3F, at most maxCSI of
// them) and the final byte (0x40-0x7E) that ends it. A byte that cannot
// continue a sequence ends it and is an ordinary byte. Whether a byte is
// visible is decided when it arrives, so the lexer never holds bytes back
// and splits do not matter.
//
// Sequences such as OSC (ESC ']' … BEL), whose payload is text that can
// carry a secret (a hyperlink's URL), are not hidden: only the ESC and the
// ']' are.
//
// NUL bytes are invisible too, so that the UTF-16 of an ASCII secret
// (Windows tools, PowerShell's Out-File), "s\0e\0c\0…", matches the
// secret itself with no pattern of its own. A NUL also ends a CSI sequence
// (it cannot continue one).
//
// A masked run keeps the escape sequences inside it: the Writer writes the
// mask token, then the run's invisible bytes in order, so the terminal's
// colour state after the run is what it would have been. The bytes that a
// sequence swallows are still matched as raw bytes (rawview.go).

const (
	esc    = 0x1b
	nul    = 0x00
	maxCSI = 32
)

type lexState uint8

const (
	lexText lexState = iota
	lexEsc           // after ESC
	lexCSI           // after ESC '['
)

// A lexer tracks escape sequences across writes.
type lexer struct {
	state lexState
	n     uint8    // CSI parameter and intermediate bytes seen
	escs  []uint64 // a bitmap of the ESC and NUL bytes of the input of lex
	hide  []uint64 // and one of its invisible bytes

	// With rec, lex also records in starts the invisible bytes other than
	// ESC at which a pattern may begin (for the raw view): those whose pair
	// with the next byte is in the bitmap pairs (the first two bytes of the
	// patterns) and whose four bytes from them are in the filter may (their
	// first four), or, with pairs nil or no next byte yet, all of them.
	rec    bool
	pairs  []uint64
	may    *startsFilter
	starts []rawStart
}

// A rawStart is an invisible byte at raw offset raw, before the visible
// byte at clean offset clean.
type rawStart struct{ raw, clean int64 }

// A gap is a run of n invisible raw bytes starting at raw offset raw, just
// before the visible byte at clean offset clean; cum counts the invisible
// bytes of the stream up to its end.
type gap struct {
	clean, raw, n, cum int64
}

// lex appends the visible bytes of p to dst and the invisible runs to gaps
// (merged with the last one when contiguous). p starts at raw offset raw
// and its first visible byte is at clean offset clean; base is the cum of
// the gap before the first one it appends, if gaps has none.
//
// It finds the invisible runs first and then copies what is between them,
// with a vector unit in one pass (compressBytes): a copy per run costs
// more for runs of a line.
func (l *lexer) lex(dst []byte, gaps []gap, p []byte, raw, clean, base int64) ([]byte, []gap) {
	// Colour codes come every few hundred bytes: finding them all at once
	// costs far less than a search from each.
	if cap(l.escs) > maxRetained/64 {
		l.escs, l.hide = nil, nil // grown by an unusually large write
	}
	l.escs = byteBitmap(l.escs, p, esc, nul)
	var pairs *[1 << 16 / 64]uint64
	if l.rec && l.pairs != nil {
		pairs = (*[1 << 16 / 64]uint64)(l.pairs)
	}
	from := max(len(gaps)-1, 0) // the gaps of p's runs (the last may grow)
	hid := 0                    // invisible bytes of p before g
	var hide []uint64           // if compressBytes copies, a bitmap of them
	if canCompress() {
		l.hide = sizeBitmap(l.hide, len(p))
		clear(l.hide)
		hide = l.hide
	}
	j, g := 0, 0 // g: start in p of the current invisible run
loop:
	for j < len(p) {
		switch l.state {
		case lexText:
			k := l.nextEsc(j)
			if k < 0 {
				break loop
			}
			g = k
			j = g + 1
			if p[g] == nul {
				gaps = addGap(gaps, gap{clean: clean + int64(g-hid), raw: raw + int64(g), n: 1}, base)
				hid++
				setBits(hide, g, j)
				continue
			}
			// The usual case, a whole CSI sequence in p, without the
			// state machine.
			if j < len(p) && p[j] == '[' {
				k := j + 1
				for k < len(p) && k-j-1 < maxCSI && p[k] >= 0x20 && p[k] <= 0x3f {
					k++
				}
				if k < len(p) {
					if p[k] >= 0x40 && p[k] <= 0x7e {
						k++
					}
					j = k
					c := clean + int64(g-hid)
					gaps = addGap(gaps, gap{clean: c, raw: raw + int64(g), n: int64(j - g)}, base)
					hid += j - g
					setBits(hide, g, j)
					if pairs != nil && j < len(p) {
						// Inline, as this runs for every sequence: most of
						// its bytes and the byte after them begin no
						// pattern. With thousands of secrets, half of the
						// pairs of printable bytes begin one, and four
						// bytes tell far better.
						for x := g + 1; x < j; x++ {
							if b := uint(p[x])<<8 | uint(p[x+1]); pairs[b>>6]&(1<<(b&63)) != 0 &&
								(x+4 > len(p) || l.may.may(binary.LittleEndian.Uint32(p[x:]))) {
								l.starts = append(l.starts, rawStart{raw + int64(x), c})
							}
						}
					} else if l.rec {
						l.record(g+1, j, raw, c)
					}
					continue
				}
			}
			l.state = lexEsc
		case lexEsc:
			if p[j] != '[' {
				// A lone ESC; p[j] is read as text.
				l.state = lexText
				gaps = l.slowGap(gaps, p, g, j, raw, clean+int64(g-hid), base)
				hid += j - g
				setBits(hide, g, j)
				continue
			}
			j++
			l.state, l.n = lexCSI, 0
		case lexCSI:
			c := p[j]
			if c >= 0x20 && c <= 0x3f && l.n < maxCSI {
				j++
				l.n++
				continue
			}
			if c >= 0x40 && c <= 0x7e {
				j++
			}
			l.state = lexText
			gaps = l.slowGap(gaps, p, g, j, raw, clean+int64(g-hid), base)
			hid += j - g
			setBits(hide, g, j)
		}
	}
	if l.state != lexText {
		gaps = l.slowGap(gaps, p, g, len(p), raw, clean+int64(g-hid), base)
		setBits(hide, g, len(p))
	}
	if hide != nil {
		return compressBytes(dst, p, hide), gaps
	}
	// A copy of each visible run.
	x := 0
	for _, g := range gaps[from:] {
		a, b := int(max(g.raw-raw, 0)), int(g.raw+g.n-raw)
		if b > 0 {
			dst, x = append(dst, p[x:a]...), b
		}
	}
	return append(dst, p[x:]...), gaps
}

// setBits sets bits [a, b) of bm, if bm is not nil.
func setBits(bm []uint64, a, b int) {
	if bm == nil {
		return
	}
	for a < b {
		w, s := a/64, a%64
		e := min(b-64*w, 64)
		bm[w] |= ^uint64(0) >> (64 - (e - s)) << s
		a = 64*w + e
	}
}

// compressGo is compressBytes a byte at a time.
func compressGo(dst, p []byte, hide []uint64) []byte {
	for i, c := range p {
		if hide[i/64]>>(i%64)&1 == 0 {
			dst = append(dst, c)
		}
	}
	return dst
}

// slowGap adds the invisible run p[g:j], before clean offset c, that the
// state machine found (it may continue one of an earlier write), and
// records its starts.
func (l *lexer) slowGap(gaps []gap, p []byte, g, j int, raw, c, base int64) []gap {
	if l.rec {
		for x := g; x < j; x++ {
			if p[x] != esc {
				l.starts = append(l.starts, rawStart{raw + int64(x), c})
			}
		}
	}
	return addGap(gaps, gap{clean: c, raw: raw + int64(g), n: int64(j - g)}, base)
}

// record records the invisible bytes [x, y) of a CSI sequence (no ESC),
// before clean offset c, as starts.
func (l *lexer) record(x, y int, raw, c int64) {
	for ; x < y; x++ {
		l.starts = append(l.starts, rawStart{raw + int64(x), c})
	}
}

// nextEsc returns the index of the first ESC or NUL at or after j in the
// input whose bitmap is escs, or -1.
func (l *lexer) nextEsc(j int) int { return nextBit(l.escs, j) }

// visible feeds c to the lexer's state machine, a byte at a time, and
// reports whether c is visible (the hex view lexes decoded bytes so).
func (l *lexer) visible(c byte) bool {
	for {
		switch l.state {
		case lexText:
			if c == esc {
				l.state = lexEsc
			}
			return c != esc && c != nul
		case lexEsc:
			if c != '[' {
				l.state = lexText // a lone ESC: c is text
				continue
			}
			l.state, l.n = lexCSI, 0
			return false
		case lexCSI:
			if c >= 0x20 && c <= 0x3f && l.n < maxCSI {
				l.n++
				return false
			}
			l.state = lexText
			if c >= 0x40 && c <= 0x7e {
				return false
			}
		}
	}
}

// addGap appends g, merging it into the last gap if they are contiguous.
func addGap(gaps []gap, g gap, base int64) []gap {
	if g.n == 0 {
		return gaps
	}
	if n := len(gaps); n > 0 {
		last := &gaps[n-1]
		if last.clean == g.clean && last.raw+last.n == g.raw {
			last.n += g.n
			last.cum += g.n
			return gaps
		}
		base = last.cum
	}
	g.cum = base + g.n
	return append(gaps, g)
}

// stripANSI returns s without the bytes the lexer hides.
func stripANSI(s string) string {
	if !bytes.ContainsAny([]byte(s), "\x1b\x00") {
		return s
	}
	var l lexer
	out, _ := l.lex(nil, nil, []byte(s), 0, 0, 0)
	return string(out)
}
