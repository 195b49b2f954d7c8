package masking

import (
	"math"
	"math/bits"
)

// The hex view. A secret's bytes printed as hex with a separator or a
// prefix per byte, "de:ad:be:ef" (openssl, fingerprints), "de ad be ef"
// (hexdump -C), "dead beef" (xxd), "\xde\xad" (escaped bytes), "%de%ad"
// (every byte percent-encoded) and "%25de%25ad" (that encoded again),
// gets no pattern: a dozen more forms per secret would double the filters
// and cost every write (docs/masking.md). Instead the Writer decodes such
// runs and matches the decoded bytes against the same patterns, with a
// second scanner over the decoded stream.
//
// The runs are rare in build logs and cheap to rule out: a bitmap of the
// bytes that can be in one (hex digits, ':', ' ', '\', 'x', '%'), built 32
// bytes per instruction, in which the view looks for stretches of at least
// hexRun such bytes (the decoding of the shortest pattern needs that many
// digits). Only those stretches, a stretch the previous write left open,
// and one that reaches the end of the write are decoded.
//
// A segment is a sequence of units, each an optional prefix ("\x", "%" or
// "%25") and two hex digits (in either case), with at most one separator
// (':' or ' ') between two units. Anything else ends the segment, and a
// partial unit with it. The decoded bytes of a segment are one stream to
// the scanner, ended with the segment. A match in them masks the hex digits
// of its units and what is between them: from the first unit's first
// digit (its prefix stays, as it tells nothing of the secret, and so that
// a prefix at the end of a write need not be held back) to the last
// unit's last digit. The Writer holds back a pending partial match of the
// decoded bytes from its first unit's digits on, and a partial unit at the
// end of a write from its first digit if it may decode to a byte a pattern
// begins with.

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
	sc   scanner // over the decoded bytes: offsets are decoded-stream offsets
	run  int     // the shortest stretch of class bytes decoded
	ansi bool    // escape sequences and NULs in the decoded bytes are invisible
	lex  lexState
	csi  uint8

	state  hexState
	unitAt int64 // clean offset of the current unit's first byte
	digit  int64 // and of its first digit
	hi     byte  // the value of the digit read

	dpos int64 // decoded bytes so far
	// For the decoded offsets [ubase, dpos) of the open segment: the clean
	// offsets of each one's unit, start and end.
	ubase    int64
	ust, uen []int64
	// kept is the clean offset from which the input was not passed on at
	// the end of the last write: a unit that begins before it (its first
	// digit was passed on) begins no match.
	kept    int64
	piece   []byte // decoded bytes of this write not yet scanned
	pieceAt int64  // decoded offset of piece[0]

	bits, runs []uint64 // the class bitmap of a write, and its stretches
}

// hexRunFor returns the shortest stretch of class bytes that can hold the
// decoding of a pattern of minLen bytes or more: two digits a byte, and no
// pattern is shorter than minLen. Eight is enough for any (the shortest
// patterns of four bytes or more take eight digits), and testing for more
// would cost more shifts.
func hexRunFor(minLen int) int { return max(2, min(8, 2*minLen)) }

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
	if len(q)-i >= h.run {
		h.bits = hexBitmap(h.bits, q)
		h.runs = stretches(h.runs, h.bits, h.run)
		for {
			a := nextBit(h.runs, i)
			if a < 0 {
				break
			}
			b := nextZero(h.bits, a, len(q))
			h.decode(w, q[a:b], prev+int64(a))
			if b < len(q) {
				h.endSegment(w)
			}
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
	if h.sc.pend > 0 {
		return h.ust[h.dpos-int64(h.sc.pend)-h.ubase]
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
				h.state, h.unitAt, h.digit, h.hi = hexDigit, o, o, v
			case c == '\\':
				h.state, h.unitAt = hexEscape, o
			case c == '%':
				h.state, h.unitAt = hexPct, o
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
				h.emit(h.hi<<4|v, h.digit, o+1)
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
			h.emit('%', h.unitAt+1, o)
			k--
		case hexPct25Digit:
			if v != 0xff {
				h.emit(h.hi<<4|v, h.digit, o+1)
				continue
			}
			// "%25" was '%' encoded once; the digit after it begins a unit
			// that c ends.
			d := h.hi
			h.emit('%', h.unitAt+1, o-1)
			h.state, h.unitAt, h.digit, h.hi = hexDigit, o-1, o-1, d
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

// emit adds a decoded byte whose unit is the clean bytes [st, en). Unless
// escape sequences are ordinary bytes, the decoded bytes are lexed like the
// output (ansi.go), since the patterns are: the invisible ones are left
// out (a binary secret's NUL and ESC bytes).
func (h *hexView) emit(c byte, st, en int64) {
	h.state = hexUnit
	if h.ansi && !h.visible(c) {
		return
	}
	if len(h.piece) == 0 {
		h.pieceAt = h.dpos
	}
	if st < h.kept {
		h.sc.lo = max(h.sc.lo, h.dpos+1)
	}
	h.piece = append(h.piece, c)
	h.ust = append(h.ust, st)
	h.uen = append(h.uen, en)
	h.dpos++
}

// visible reports whether the lexer of ansi.go, run over the segment's
// decoded bytes so far, shows c.
func (h *hexView) visible(c byte) bool {
	for {
		switch h.lex {
		case lexText:
			if c == esc {
				h.lex = lexEsc
			}
			return c != esc && c != nul
		case lexEsc:
			if c == '[' {
				h.lex, h.csi = lexCSI, 0
				return false
			}
			h.lex = lexText // a lone ESC: c is text
		case lexCSI:
			if c >= 0x20 && c <= 0x3f && h.csi < maxCSI {
				h.csi++
				return false
			}
			h.lex = lexText
			if c >= 0x40 && c <= 0x7e {
				return false
			}
		}
	}
}

// endSegment scans the rest of the open segment as a stream's end, and
// leaves the tokenizer idle. A partial unit is dropped, but "%25" is the
// byte '%' encoded once.
func (h *hexView) endSegment(w *Writer) {
	switch h.state {
	case hexIdle:
		return
	case hexPct25, hexPct25Digit:
		h.emit('%', h.unitAt+1, h.unitAt+3)
	}
	h.state, h.lex = hexIdle, lexText
	h.scanPiece(w, true)
	h.sc.ctx = h.sc.ctx[:0]
	h.sc.lo = h.dpos
	h.ust, h.uen, h.ubase = h.ust[:0], h.uen[:0], h.dpos
}

// scanPiece scans the decoded bytes of this write (all of the segment's
// after those retained), and masks the units of the matches.
func (h *hexView) scanPiece(w *Writer, final bool) {
	sc := &h.sc
	if len(h.piece) == 0 && (final || len(sc.ctx) == 0) {
		sc.matches, sc.pend = sc.matches[:0], 0
		return
	}
	if len(h.piece) == 0 {
		h.pieceAt = h.dpos
	}
	sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = w.m, h.piece, h.pieceAt, h.dpos, final, 0
	sc.run()
	h.mask(w)
	h.piece = h.piece[:0]
	if !final {
		sc.retain(int(h.dpos - sc.lo))
	}
}

// mask adds the scanner's matches to the Writer's intervals.
func (h *hexView) mask(w *Writer) {
	for _, mt := range h.sc.matches {
		w.add(h.ust[mt.st-h.ubase], h.uen[mt.en-1-h.ubase])
		w.set.hits[hitHex].Add(1)
	}
}

// retain keeps, of the open segment, the decoded bytes whose units begin
// at or after clean offset keep (not passed on): a secret added later is
// matched in them, and a pending match begins there at the earliest.
func (h *hexView) retain(keep int64) {
	h.kept = keep
	if h.state == hexIdle {
		return
	}
	k := 0
	for k < len(h.ust) && h.ust[k] < keep {
		k++
	}
	lo := max(h.sc.lo, h.ubase+int64(k))
	h.sc.lo = lo
	if ctx, n := h.sc.ctx, int(h.dpos-lo); n < len(ctx) {
		h.sc.ctx = ctx[:copy(ctx, ctx[len(ctx)-n:])]
	}
	if k := int(lo - h.ubase); k > 0 {
		h.ust = append(h.ust[:0], h.ust[k:]...)
		h.uen = append(h.uen[:0], h.uen[k:]...)
		h.ubase = lo
	}
	if cap(h.ust) > maxRetained/8 {
		h.ust, h.uen = append([]int64(nil), h.ust...), append([]int64(nil), h.uen...)
	}
}

// rescan matches the patterns of generation newer and later in the
// retained decoded bytes of the open segment.
func (h *hexView) rescan(w *Writer, newer uint64) {
	if h.state == hexIdle || len(h.sc.ctx) == 0 {
		return
	}
	sc := &h.sc
	sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = w.m, nil, h.dpos, h.dpos, false, newer
	sc.run()
	h.mask(w)
}

// stretches returns, for the class bitmap bm, a bitmap with bit i set if
// bits i to i+n-1 of bm are all set, by doubling: runs of 2, 4, 8 bits.
func stretches(out, bm []uint64, n int) []uint64 {
	out = append(out[:0], bm...)
	and := func(s int) {
		for w := range out {
			x := out[w] >> s
			if w+1 < len(out) {
				x |= out[w+1] << (64 - s)
			}
			out[w] &= x
		}
	}
	have := 1
	for 2*have <= n {
		and(have)
		have *= 2
	}
	if have < n {
		and(n - have)
	}
	return out
}

// nextBit returns the first set bit of bm at or after i, or -1.
func nextBit(bm []uint64, i int) int {
	w := i / 64
	if w >= len(bm) {
		return -1
	}
	x := bm[w] >> (i % 64) << (i % 64)
	for x == 0 {
		if w++; w == len(bm) {
			return -1
		}
		x = bm[w]
	}
	return 64*w + bits.TrailingZeros64(x)
}

// nextZero returns the first clear bit of bm at or after i, or n.
func nextZero(bm []uint64, i, n int) int {
	for w := i / 64; w < len(bm); w++ {
		x := ^bm[w]
		if w == i/64 {
			x = x >> (i % 64) << (i % 64)
		}
		if x != 0 {
			return min(n, 64*w+bits.TrailingZeros64(x))
		}
	}
	return n
}
