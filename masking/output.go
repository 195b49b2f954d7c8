package masking

import "io"

// Output: the intervals a Writer masks, and how it turns them and its
// input into output. Intervals are in clean offsets (the input without
// escape sequences); the input is released in raw offsets. Escape
// sequences always come out, whether inside a masked run or not: only the
// visible bytes of a run are replaced (by the one token at its first
// byte).

// An interval is a merged run [start, end) of clean offsets to mask. Once
// its start can no longer move (no later match can begin before it), its
// mask token is written (masked) and the run may still grow at its end
// without a second token.
type interval struct {
	start, end int64
	masked     bool
}

// add merges the match [a, b) into the pending intervals. Matches found
// while scanning usually end at or after every pending interval, so the
// search from the back is short; a rescan after refresh may insert
// anywhere.
func (w *Writer) add(a, b int64) {
	iv := w.iv
	j := len(iv)
	for j > w.head && iv[j-1].start > b {
		j--
	}
	k := j
	for k > w.head && iv[k-1].end >= a {
		k--
	}
	if k == j {
		iv = append(iv, interval{})
		copy(iv[j+1:], iv[j:])
		iv[j] = interval{start: a, end: b}
		w.iv = iv
		return
	}
	// iv[k:j] overlap or touch [a, b). A masked interval is only ever the
	// first, and no match can start before it (its start was final).
	iv[k].start = min(iv[k].start, a)
	iv[k].end = max(iv[j-1].end, b)
	w.iv = append(iv[:k+1], iv[j:]...)
}

// release passes on everything before clean offset e, the earliest offset
// at which a later match can start: plain bytes, and a token for each
// interval whose start is final. An interval ending at or after e stays
// pending (a later match may extend it); if its token is written, the
// bytes it covers are released.
func (w *Writer) release(e int64, p []byte) {
	for w.head < len(w.iv) {
		in := &w.iv[w.head]
		if !in.masked {
			if in.start > e {
				break
			}
			w.plainTo(in.start, p)
			w.token(p)
			in.masked = true
		}
		w.coverTo(in.end, p)
		if in.end >= e {
			return
		}
		w.head++
		if w.head == len(w.iv) {
			w.iv, w.head = w.iv[:0], 0
		} else if w.head >= 16 && 2*w.head >= len(w.iv) {
			// Pending intervals that never all close must not pile up.
			n := copy(w.iv, w.iv[w.head:])
			w.iv, w.head = w.iv[:n], 0
		}
	}
	w.plainTo(e, p)
}

// plainTo passes on the input up to clean offset y unchanged, with the
// escape sequences just before y, but not from the first byte a raw match
// drops on (where the token of the interval at y goes) nor from one a
// pending raw match holds.
func (w *Writer) plainTo(y int64, p []byte) {
	if y < w.cdone {
		return
	}
	r := min(w.rawOf(y), w.rv.capR)
	if rv := &w.rv; rv.dh < len(rv.drops) {
		r = min(r, max(rv.drops[rv.dh].a, w.rawDone))
	}
	if r > w.rawDone {
		w.plain(w.rawDone, r, p)
		w.rawDone = r
	}
	w.cdone = y
}

// coverTo drops the visible input bytes up to clean offset t (they are
// masked), and those of raw matches among the escape sequences; the other
// escape sequence bytes are passed on. A pending raw match stops it.
func (w *Writer) coverTo(t int64, p []byte) {
	t = min(t, w.rv.capC)
	if t < w.cdone {
		return
	}
	r := min(w.rawOf(t), w.rv.capR)
	// From the first escape sequence not passed on: a write may hold
	// hundreds of them and a few masked runs.
	lo, hi := w.gh, len(w.gaps)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if g := &w.gaps[mid]; g.raw+g.n <= w.rawDone {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < len(w.gaps); i++ {
		g := &w.gaps[i]
		if g.raw >= r {
			break
		}
		w.keptTo(max(g.raw, w.rawDone), min(g.raw+g.n, r), p)
	}
	w.rawDone, w.cdone = r, t
	rv := &w.rv
	for rv.dh < len(rv.drops) && rv.drops[rv.dh].b <= r {
		rv.dh++
	}
	if rv.dh == len(rv.drops) {
		rv.drops, rv.dh = rv.drops[:0], 0
	}
}

// keptTo passes on the escape sequence bytes [x, y) that no raw match
// drops.
func (w *Writer) keptTo(x, y int64, p []byte) {
	rv := &w.rv
	for i := rv.dh; i < len(rv.drops) && x < y; i++ {
		d := rv.drops[i]
		if d.b <= x {
			continue
		}
		if d.a >= y {
			break
		}
		w.plain(x, d.a, p)
		x = d.b
	}
	w.plain(x, y, p)
}

// rawOf returns the input offset of the visible byte at clean offset c
// (c >= cdone): c plus the escape sequence bytes before it.
func (w *Writer) rawOf(c int64) int64 {
	g := w.gaps[w.gh:]
	lo, hi := 0, len(g) // the first gap after c
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if g[mid].clean <= c {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return c + w.cumBase
	}
	return c + g[lo-1].cum
}

func (w *Writer) lastCum() int64 {
	if n := len(w.gaps); n > w.gh {
		return w.gaps[n-1].cum
	}
	return w.cumBase
}

// pruneGaps forgets the escape sequences already passed on.
func (w *Writer) pruneGaps() {
	for w.gh < len(w.gaps) && w.gaps[w.gh].raw+w.gaps[w.gh].n <= w.rawDone {
		w.cumBase = w.gaps[w.gh].cum
		w.gh++
	}
	if w.gh == len(w.gaps) {
		w.gaps, w.gh = w.gaps[:0], 0
	} else if w.gh >= 64 && 2*w.gh >= len(w.gaps) {
		n := copy(w.gaps, w.gaps[w.gh:])
		w.gaps, w.gh = w.gaps[:n], 0
	}
}

// plain appends input bytes [x, y), which are held bytes or p's.
func (w *Writer) plain(x, y int64, p []byte) {
	if x >= y {
		return
	}
	if x < w.base {
		from := w.base - int64(len(w.held))
		end := min(y, w.base)
		w.append(p, w.held[x-from:end-from])
		x = end
	}
	if x < y {
		lo, hi := int(x-w.base), int(y-w.base)
		switch {
		case w.hi > w.lo && w.hi == lo:
			w.hi = hi
		case w.hi == w.lo && len(w.out) == 0:
			w.lo, w.hi = lo, hi
		default:
			w.append(p, p[lo:hi])
		}
	}
}

func (w *Writer) token(p []byte) {
	w.append(p, w.set.mask)
	w.redactions.Add(1)
	w.set.redactions.Add(1)
}

func (w *Writer) append(p, b []byte) {
	w.materialize(p)
	w.out = append(w.out, b...)
}

// materialize copies the pending output range of p into out.
func (w *Writer) materialize(p []byte) {
	if w.hi > w.lo {
		w.out = append(w.out, p[w.lo:w.hi]...)
		w.lo, w.hi = 0, 0
	}
}

// keep saves the bytes held back, [rawDone, pos), before p goes away.
func (w *Writer) keep(p []byte) {
	if w.rawDone < w.base {
		from := w.base - int64(len(w.held))
		n := copy(w.held, w.held[w.rawDone-from:])
		w.held = append(w.held[:n], p...)
	} else {
		w.held = append(w.held[:0], p[w.rawDone-w.base:]...)
	}
	if cap(w.held) > maxRetained && len(w.held) < maxRetained/4 {
		w.held = append([]byte(nil), w.held...)
	}
}

// emit writes the call's output downstream and returns n, or 0 and the
// (now sticky) error.
func (w *Writer) emit(p []byte, n int) (int, error) {
	b := w.out
	if w.hi > w.lo {
		b = p[w.lo:w.hi]
	}
	w.lo, w.hi = 0, 0
	var err error
	if len(b) > 0 {
		var nw int
		nw, err = w.dst.Write(b)
		if err == nil && nw < len(b) {
			err = io.ErrShortWrite
		}
	}
	if cap(w.out) > maxRetained {
		w.out = nil
	} else {
		w.out = w.out[:0]
	}
	if err != nil {
		w.err = err
		return 0, err
	}
	return n, nil
}
