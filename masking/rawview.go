package masking

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
)

// The raw view. Matching skips escape sequences (ansi.go), but a log
// viewer that does not interpret them shows their bytes: after "ESC [" the
// lexer takes the next printable byte as the sequence's final byte (or a
// run of digits as its parameters), so a secret printed right after a
// stray "ESC [" would be hidden from matching while the raw log holds it
// verbatim. The Writer therefore masks the union of two views: the
// pattern occurrences in the visible bytes (the scan), and those in the
// raw bytes.
//
// A raw occurrence that holds no escape sequence byte is also a visible
// one. Patterns hold no ESC (they are stripped like the output), so every
// other raw occurrence starts at an invisible byte after an ESC and runs
// over the rest of that escape sequence, and then perhaps over the visible
// bytes after it, up to the next ESC at most. The Writer looks up a
// pattern start at each invisible byte but ESC (a cheap test of the first
// bytes rejects most), and masks a match like this: its invisible bytes
// are dropped, its visible ones are an interval like any other, and its
// mask token stands where its first dropped byte was; the bytes of the
// sequence before and after the match are kept. A match still pending at
// the end of a write holds back the input from its first byte.

// A rawInst is a possible raw occurrence that needs more input: a pattern
// matched so far, or (ref noRef) a start whose lookup waits for more bytes.
type rawInst struct {
	s     int64  // raw offset of its first byte, an invisible one
	g     int64  // clean offset of the visible byte after that escape run
	newer uint64 // a lookup only for the patterns of this generation on (0: all)
	ref   uint32 // the pattern, or noRef
	n     int32  // bytes of the pattern matched
}

// A span is a range [a, b) of raw offsets.
type span struct{ a, b int64 }

// rawView is a Writer's raw-view state.
type rawView struct {
	insts, spare []rawInst
	// drops are the invisible bytes that raw matches mask, sorted and
	// disjoint; drops[dh:] end after rawDone.
	drops []span
	dh    int
	// While a raw match is pending, nothing is released from raw offset
	// capR (in an escape run) nor from clean offset capC (the visible byte
	// after that run); otherwise both are math.MaxInt64.
	capC, capR int64
	junc       []byte
}

// rawScan finds the raw matches that end in this write (p, the input from
// raw offset base) and advances the pending ones, and appends the visible
// parts of the matches to the scanner's matches, as clean intervals. The
// lexer recorded the invisible bytes of p that may begin a pattern.
func (w *Writer) rawScan(p []byte, final bool) {
	rv := &w.rv
	old := rv.insts
	rv.insts = rv.spare[:0]
	for _, in := range old {
		if in.ref == noRef {
			w.rawLookup(in.s, in.g, in.newer, p, final)
		} else {
			w.rawVerify(in.s, in.g, in.ref, int(in.n), 0, p, final)
		}
	}
	rv.spare = old[:0]
	m := w.m
	for _, st := range w.lex.starts {
		j := int(st.raw - w.base)
		if p[j] == esc || !m.first[p[j]] ||
			len(m.tiny) == 0 && j+4 <= len(p) && !m.mayStart(binary.LittleEndian.Uint32(p[j:])) {
			continue // the four bytes from it begin no pattern
		}
		w.rawLookup(st.raw, st.clean, 0, p, final)
	}
	w.rawCaps()
}

// rawRescan looks up, after secrets were added, the patterns of
// generation newer and later at the invisible bytes not yet passed on
// (held, before the input of the current call); starts whose lookup is
// waiting look up every pattern when they resume.
func (w *Writer) rawRescan(newer uint64) {
	rv := &w.rv
	for i := w.gh; i < len(w.gaps); i++ {
		gp := &w.gaps[i]
		for s := max(gp.raw, w.rawDone); s < gp.raw+gp.n; s++ {
			if c := w.held[s-w.rawDone]; c == esc || !w.m.first[c] {
				continue
			}
			if slices.ContainsFunc(rv.insts, func(in rawInst) bool { return in.s == s && in.ref == noRef }) {
				continue
			}
			w.rawLookup(s, gp.clean, newer, nil, false)
		}
	}
	w.rawCaps()
}

func (w *Writer) rawCaps() {
	rv := &w.rv
	rv.capC, rv.capR = math.MaxInt64, math.MaxInt64
	for _, in := range rv.insts {
		rv.capC, rv.capR = min(rv.capC, in.g), min(rv.capR, in.s)
	}
}

// rawLookup finds the patterns (of generation newer and later) that start
// at raw offset s, an invisible byte before clean offset g.
func (w *Writer) rawLookup(s, g int64, newer uint64, p []byte, final bool) {
	m := w.m
	a := w.rawSpan(s, longMin, p)
	if len(a) < 8 {
		// Near the end of the input so far: a match cannot run past an
		// ESC, but it may run past the end.
		if k := bytes.IndexByte(a, esc); k >= 0 {
			a = a[:k]
		} else if !final && s+int64(len(a)) == w.pos && m.properPrefix(a) {
			// A long pattern may start here: look again when more input
			// is there.
			w.rv.insts = append(w.rv.insts, rawInst{s: s, g: g, newer: newer, ref: noRef})
			return
		}
	}
	if len(a) == 0 || !m.first[a[0]] {
		return
	}
	for _, ref := range m.tiny[m.tinyStart[a[0]]:m.tinyStart[int(a[0])+1]] {
		w.rawVerify(s, g, ref, 0, newer, p, final)
	}
	if len(a) >= shortWin && m.ss > 0 {
		x := binary.LittleEndian.Uint32(a)
		if h := shortHash(x); m.short.has(h) {
			for c := range m.short.candidates(h, x) {
				if c.off == 0 && c.ref&trigBit == 0 {
					w.rawVerify(s, g, c.ref, 0, newer, p, final)
				}
			}
		}
	}
	if len(a) >= 8 {
		x := binary.LittleEndian.Uint64(a)
		if h := longHash(x); m.long.has(h) {
			for c := range m.long.candidates(h, fp64(x)) {
				if c.off == 0 {
					w.rawVerify(s, g, c.ref, 0, newer, p, final)
				}
			}
		}
	}
}

// rawVerify compares pattern ref, of which n bytes matched, with the input
// at raw offset s+n: a complete match is masked, a partial one that runs
// to the end of the input is pending.
func (w *Writer) rawVerify(s, g int64, ref uint32, n int, newer uint64, p []byte, final bool) {
	pat := &w.m.pats[ref]
	if newer != 0 && pat.gen < newer {
		return
	}
	k, ok := w.rawCompare(s+int64(n), pat.s[n:], p)
	switch {
	case !ok:
	case n+k < len(pat.s):
		if !final {
			w.rv.insts = append(w.rv.insts, rawInst{s: s, g: g, ref: ref, n: int32(n + k)})
		}
	default:
		w.rawMatch(s, g, ref)
	}
}

// rawMatch masks the raw occurrence of pattern ref at s: its invisible
// bytes are dropped, its visible ones (after its escape run, clean offset
// g on) are a match for the intervals.
func (w *Writer) rawMatch(s, g int64, ref uint32) {
	e := s + int64(len(w.m.pats[ref].s))
	gaps := w.gaps[w.gh:]
	i, _ := slices.BinarySearchFunc(gaps, s, func(gp gap, s int64) int { return cmpI64(gp.raw+gp.n, s+1) })
	end := gaps[i].raw + gaps[i].n // the escape run holding s
	w.dropRaw(s, min(e, end))
	w.sc.matches = append(w.sc.matches, match{g, g + max(0, e-end), ref})
}

func cmpI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dropRaw adds [a, b) to the dropped bytes.
func (w *Writer) dropRaw(a, b int64) {
	rv := &w.rv
	d := rv.drops
	i := len(d)
	for i > rv.dh && d[i-1].a > a {
		i--
	}
	d = slices.Insert(d, i, span{a, b})
	// Merge with overlapping or touching neighbours.
	j := max(i, rv.dh+1) - 1
	k := j
	for n := j + 1; n < len(d); n++ {
		if d[n].a <= d[k].b {
			d[k].b = max(d[k].b, d[n].b)
		} else {
			k++
			d[k] = d[n]
		}
	}
	rv.drops = d[:k+1]
}

// rawSpan returns up to n input bytes from raw offset s (which is not
// passed on), to the end of the input so far.
func (w *Writer) rawSpan(s int64, n int, p []byte) []byte {
	if s >= w.base {
		b := p[s-w.base:]
		return b[:min(len(b), n)]
	}
	h := w.held[s-(w.base-int64(len(w.held))):]
	if len(h) >= n {
		return h[:n]
	}
	w.rv.junc = append(append(w.rv.junc[:0], h...), p[:min(len(p), n-len(h))]...)
	return w.rv.junc
}

// rawCompare compares pat with the input at raw offset st, as far as the
// input goes, and returns how many bytes it compared.
func (w *Writer) rawCompare(st int64, pat string, p []byte) (int, bool) {
	n := 0
	if st < w.base {
		h := w.held[st-(w.base-int64(len(w.held))):]
		n = min(len(h), len(pat))
		if string(h[:n]) != pat[:n] {
			return 0, false
		}
		if n == len(pat) {
			return n, true
		}
		st = w.base
	}
	b := p[st-w.base:]
	k := min(len(b), len(pat)-n)
	if string(b[:k]) != pat[n:n+k] {
		return 0, false
	}
	return n + k, true
}
