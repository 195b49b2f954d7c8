package masking

import "math"

// The hex view. A secret's bytes printed as hex with a separator or a
// prefix per byte, "de:ad:be:ef" (openssl, fingerprints), "de ad be ef"
// (hexdump -C), "dead beef" (xxd), "\xde\xad" (escaped bytes), "%de%ad"
// (every byte percent-encoded) and "%25de%25ad" (that encoded again),
// gets no pattern: a dozen more forms per secret would double the filters
// and cost every write (docs/masking.md). Instead the Writer decodes such
// runs and matches the decoded bytes against the same patterns, with a
// second scanner over the decoded stream.
//
// A segment is a sequence of units, each an optional prefix ("\x", "%" or
// "%25") and two hex digits (in either case), with at most one separator
// (':' or ' ') between two units. Anything else ends the segment, and a
// partial unit with it. The decoded bytes of a segment are one stream to
// the scanner, ended with the segment. A unit's separator or prefix joins
// it to the segment; a match counts once the segment has had three joins
// at equal distances of 3, 4 or 5 bytes: plain hex ("deadbeef", ids,
// digests) is the hex patterns' to match, and a timestamp is not hex. A
// match masks the hex digits of its units and what is between them: from
// the first unit's first digit (its prefix stays, as it tells nothing of
// the secret, and so that a prefix at the end of a write need not be held
// back) to the last unit's last digit. The Writer holds back a pending
// partial match of the decoded bytes from its first unit's digits on, and
// a partial unit at the end of a write from its first digit if it may
// decode to a byte a pattern begins with.
//
// Such runs are rare in build logs and cheap to rule out: one pass over a
// write marks its hex digits and join bytes (':', ' ', 'x', '%'), 64 bytes
// per instruction, and word shifts find where three joins are 3 to 5
// bytes apart, eight words at a time (byteClasses). Only the stretches of class bytes around those places, a
// stretch the previous write left open, and one that reaches the end of
// the write are decoded.

// hexState is where the tokenizer is in a segment.
type hexState uint8

const (
	hexIdle       hexState = iota // not in a segment
	hexUnit                       // after a unit
	hexSep                        // after a unit and a separator
	hexDigit                      // after a unit's first digit
	hexEscape                     // after '\'
	hexPrefix                     // after "\x": the unit's digits follow
	hexPct                        // after '%'
	hexPctDigit                   // after '%' and a digit
	hexPct25                      // after "%25": a unit encoded twice, or the byte '%'
	hexPct25Digit                 // after "%25" and a digit
)

// hexClass marks the bytes that can be in a segment.
var hexClass = func() (c [256]bool) {
	for _, b := range []byte("0123456789abcdefABCDEF: \\x%") {
		c[b] = true
	}
	return c
}()

// hexValue is a hex digit's value, or 0xff.
var hexValue = func() (v [256]byte) {
	for i := range v {
		v[i] = 0xff
	}
	for i, b := range []byte("0123456789abcdef") {
		v[b] = byte(i)
		if b >= 'a' {
			v[b-'a'+'A'] = byte(i)
		}
	}
	return v
}()

// hexView is a Writer's hex-view state.
type hexView struct {
	view
	ansi bool  // escape sequences and NULs in the decoded bytes are invisible
	lex  lexer // over the segment's decoded bytes

	state  hexState
	unitAt int64 // clean offset of the current unit's first byte
	digit  int64 // and of its first digit
	hi     byte  // the value of the digit read
	// join is where the current unit is joined to the segment: the byte
	// before its first digit that is not a digit (its separator, 'x' of
	// "\x", '%' of "%" and "%25"), or -1. joins are the last njoins (at
	// most two) joined units'; periodic says the segment has had three
	// joined units at equal distances of 3, 4 or 5 bytes.
	join     int64
	joins    [2]int64
	njoins   int
	periodic bool
}

// hexScan decodes the segments of q, the clean bytes of this write from
// clean offset prev, adds their matches to the intervals, and returns the
// earliest clean offset that a pending match or partial unit holds back
// (the end of q if none).
func (w *Writer) hexScan(q []byte, prev int64, final bool) int64 {
	h := &w.hv
	end := prev + int64(len(q))
	i := 0
	if h.state != hexIdle {
		// The segment the previous write left open goes on with the
		// stretch at the start of q.
		for i < len(q) && hexClass[q[i]] {
			i++
		}
		h.decode(w, q[:i], prev)
		if i < len(q) {
			h.endSegment(w)
		}
	}
	if i < len(q) { // w.cls is q's
		// Only a stretch with three joins at equal distances can hold a
		// match that counts.
		for {
			p := nextMarked(w.cls.runs, w.cls.runsIn, i)
			if p < 0 {
				break
			}
			a, b := stretch(q, p, i)
			if b == len(q) {
				break // the stretch at the end, below
			}
			h.decode(w, q[a:b], prev+int64(a))
			h.endSegment(w)
			i = b
		}
	}
	// A stretch that reaches the end of q may go on in the next write.
	if j := len(q); i < j && hexClass[q[j-1]] {
		for j > i && hexClass[q[j-1]] {
			j--
		}
		h.decode(w, q[j:], prev+int64(j))
	}
	if final {
		h.endSegment(w)
		return end
	}
	if h.state == hexIdle {
		return end
	}
	h.scanPiece(w, false)
	if p := h.pending(); p < end {
		return p
	}
	if p := h.partialHold(w.m); p >= h.kept {
		return min(end, p)
	}
	return end
}

// partialHold returns where the partial unit at the end of the input is
// held back from: its first digit, if it may decode to a byte a pattern
// begins with (a match that the units before it begin is pending already),
// or math.MaxInt64. A prefix without digits is not held.
func (h *hexView) partialHold(m *matcher) int64 {
	inRange := func(d byte) bool {
		for c := int(d) << 4; c < int(d)<<4+16; c++ {
			if m.first[c] {
				return true
			}
		}
		return false
	}
	switch h.state {
	case hexDigit:
		if inRange(h.hi) {
			return h.digit
		}
	case hexPctDigit: // "%2" may be "%25", the byte '%'
		if inRange(h.hi) || h.hi == 2 && m.first['%'] {
			return h.digit
		}
	case hexPct25, hexPct25Digit:
		if m.first['%'] {
			return h.unitAt + 1
		}
		if h.state == hexPct25Digit && inRange(h.hi) {
			return h.digit
		}
	}
	return math.MaxInt64
}

// decode runs the tokenizer over b, the class bytes at clean offset at.
func (h *hexView) decode(w *Writer, b []byte, at int64) {
	for k := 0; k < len(b); k++ {
		c, o := b[k], at+int64(k)
		v := hexValue[c]
		switch h.state {
		case hexIdle, hexUnit, hexSep:
			switch {
			case v != 0xff:
				h.join = -1
				if h.state == hexSep {
					h.join = o - 1
				}
				h.state, h.unitAt, h.digit, h.hi = hexDigit, o, o, v
			case c == '\\':
				h.state, h.unitAt, h.join = hexEscape, o, o+1
			case c == '%':
				h.state, h.unitAt, h.join = hexPct, o, o
			case (c == ':' || c == ' ') && h.state == hexUnit:
				h.state = hexSep
			default:
				h.endSegment(w)
			}
		case hexDigit, hexPrefix, hexPctDigit:
			switch {
			case v == 0xff:
				h.restart(w, c, o)
			case h.state == hexPrefix:
				h.state, h.digit, h.hi = hexDigit, o, v
			case h.state == hexPctDigit && h.hi == 2 && v == 5:
				h.state = hexPct25
			default:
				h.decoded(h.hi<<4|v, h.digit, o+1)
			}
		case hexEscape:
			if c != 'x' {
				h.restart(w, c, o)
			} else {
				h.state = hexPrefix
			}
		case hexPct:
			if v == 0xff {
				h.restart(w, c, o)
			} else {
				h.state, h.digit, h.hi = hexPctDigit, o, v
			}
		case hexPct25:
			if v != 0xff {
				h.state, h.digit, h.hi = hexPct25Digit, o, v
				continue
			}
			// "%25" was the byte '%' encoded once.
			h.decoded('%', h.unitAt+1, o)
			k--
		case hexPct25Digit:
			if v != 0xff {
				h.decoded(h.hi<<4|v, h.digit, o+1)
				continue
			}
			// "%25" was '%' encoded once; the digit after it begins a unit
			// that c ends.
			d := h.hi
			h.decoded('%', h.unitAt+1, o-1)
			h.state, h.unitAt, h.digit, h.hi, h.join = hexDigit, o-1, o-1, d, -1
			k--
		}
	}
}

// restart ends the segment at byte c (clean offset o), which cannot go on
// with the current unit, and reads c again as the first byte after it.
func (h *hexView) restart(w *Writer, c byte, o int64) {
	h.endSegment(w)
	h.decode(w, []byte{c}, o)
}

// decoded adds a decoded byte whose unit is the clean bytes [st, en).
// Unless escape sequences are ordinary bytes, the decoded bytes are lexed
// like the output (ansi.go), since the patterns are: the invisible ones
// are left out (a binary secret's NUL and ESC bytes).
func (h *hexView) decoded(c byte, st, en int64) {
	h.state = hexUnit
	if j := h.join; j >= 0 {
		d := j - h.joins[1]
		h.periodic = h.periodic || h.njoins == 2 && d >= 3 && d <= 5 && h.joins[1]-h.joins[0] == d
		h.joins, h.njoins = [2]int64{h.joins[1], j}, min(h.njoins+1, 2)
	}
	if !h.ansi || h.lex.visible(c) {
		h.emit(c, st, en, h.periodic)
	}
}

// endSegment ends the segment and leaves the tokenizer idle. A partial
// unit is dropped, but "%25" is the byte '%' encoded once.
func (h *hexView) endSegment(w *Writer) {
	switch h.state {
	case hexIdle:
		return
	case hexPct25, hexPct25Digit:
		h.decoded('%', h.unitAt+1, h.unitAt+3)
	}
	h.state, h.lex.state, h.periodic, h.njoins = hexIdle, lexText, false, 0
	h.end(w)
}

// stretch returns the run of class bytes of q around q[p], from lo on.
func stretch(q []byte, p, lo int) (a, b int) {
	a, b = p, p
	for a > lo && hexClass[q[a-1]] {
		a--
	}
	for b < len(q) && hexClass[q[b]] {
		b++
	}
	return a, b
}
