package masking

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Write and Flush after Close.
var ErrClosed = errors.New("masking: write to a closed Writer")

// maxRetained bounds the output buffer a Writer keeps between writes; a
// larger one, grown by an unusually large Write, is released.
const maxRetained = 1 << 20

// A Writer masks its Set's secrets in the bytes written to it and writes
// the result to an underlying writer: every occurrence of a pattern is
// covered, overlapping and adjacent occurrences are merged, and each merged
// run becomes one mask token. The output does not depend on how the input
// is split into writes.
//
// Each Write passes on at once every byte that cannot be part of a secret,
// in a single Write to the underlying writer (none if there is nothing to
// pass on). Only the bytes of a pending partial match (a suffix of the
// input that is a proper prefix of a pattern) are held back, at most the
// longest pattern's length minus one; they are released when the partial
// match fails, or by Flush or Close. There is no line buffering and no
// timer.
//
// A secret added to the Set mid-stream masks every occurrence that starts
// in bytes the Writer has not passed on (including bytes it holds back);
// bytes already passed on are never retracted.
//
// Its methods may be called from several goroutines, but a Writer is one
// stream: use one Writer per output stream.
type Writer struct {
	set *Set
	dst io.Writer

	mu    sync.Mutex
	m     *matcher
	state uint32 // premultiplied state of m
	pos   int64  // input bytes consumed
	done  int64  // input bytes released: passed on, or covered by a written mask
	held  []byte // input bytes [done, pos) as of the last call: held back
	iv    []interval
	head  int // iv[head:] are the pending intervals, sorted, disjoint, not adjacent

	// Output of the current call: out, or p[lo:hi] when that is all of it
	// (the common case, which needs no copy).
	base   int64 // input offset of p[0]
	out    []byte
	lo, hi int

	err        error // sticky error of the underlying writer
	closed     bool
	redactions atomic.Int64
}

// An interval is a merged run of match positions [start, end) in the input.
// Once its start can no longer move (no later match can begin before it),
// its mask token is written (masked) and the run may still grow at its end
// without a second token.
type interval struct {
	start, end int64
	masked     bool
}

// Write masks p and passes on what can be passed on. It returns len(p), or
// 0 and the underlying writer's error, which is then returned by every
// later call.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	w.refresh()
	m := w.m
	w.base = w.pos
	if len(m.depth) == 1 { // nothing registered: nothing held or pending either
		w.pos += int64(len(p))
		w.done = w.pos
		w.lo, w.hi = 0, len(p)
		return w.emit(p, len(p))
	}

	s, trans, class := w.state, m.trans, &m.class
	for i := 0; i < len(p); i++ {
		t := trans[s+uint32(class[p[i]])]
		s = t & stateMask
		if t&matchBit != 0 {
			end := w.base + int64(i) + 1
			k := s / m.stride
			w.add(end-int64(m.out[k]), end)
			w.release(end-int64(m.depth[k]), p)
		}
	}
	w.state = s
	w.pos = w.base + int64(len(p))
	w.release(w.pos-int64(m.depth[s/m.stride]), p)
	w.keep(p)
	return w.emit(p, len(p))
}

// Flush writes the bytes held back, as if the stream ended here: a pending
// partial match is abandoned, so a secret split across a Flush is not
// masked. Use it only where the output must be complete (Close flushes).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	return w.flush()
}

// Close flushes the bytes held back and ends the stream. It does not close
// the underlying writer. Closing again is a no-op.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return w.err
	}
	w.closed = true
	return w.flush()
}

// Buffered returns the number of input bytes held back.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.pos - w.done)
}

// Redactions returns the number of mask tokens w has written.
func (w *Writer) Redactions() int { return int(w.redactions.Load()) }

func (w *Writer) flush() error {
	w.refresh()
	w.base = w.pos
	for ; w.head < len(w.iv); w.head++ {
		in := &w.iv[w.head]
		if !in.masked {
			w.plain(w.done, in.start, nil)
			w.token(nil)
		}
		w.done = in.end
	}
	w.plain(w.done, w.pos, nil)
	w.done = w.pos
	w.iv, w.head = w.iv[:0], 0
	w.state = 0
	w.held = w.held[:0]
	_, err := w.emit(nil, 0)
	return err
}

// refresh switches to the Set's current matcher if secrets were added. The
// new automaton starts from the old state's string (the part of the stream
// that can still be matched), which is rescanned for matches of the new
// patterns; the old patterns are among them, so the new state has the same
// depth and nothing released or held changes.
func (w *Writer) refresh() {
	m := w.set.matcher()
	if m == w.m {
		return
	}
	ctx := w.m.context(w.state)
	w.m = m
	start := w.pos - int64(len(ctx))
	s := uint32(0)
	for i := 0; i < len(ctx); i++ {
		t := m.trans[s+uint32(m.class[ctx[i]])]
		s = t & stateMask
		if t&matchBit != 0 {
			end := start + int64(i) + 1
			w.add(end-int64(m.out[s/m.stride]), end)
		}
	}
	w.state = s
}

// add merges the match [a, b) into the pending intervals. Matches found
// while scanning end at or after every pending interval, so the search from
// the back is short; a rescan after refresh may insert anywhere.
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

// release passes on everything before e, the earliest offset at which a
// later match can start: plain bytes, and a token for each interval whose
// start is final. An interval ending at or after e stays pending (a later
// match may extend it); if its token is written, the bytes it covers are
// released.
func (w *Writer) release(e int64, p []byte) {
	for w.head < len(w.iv) {
		in := &w.iv[w.head]
		if !in.masked {
			if in.start > e {
				break
			}
			w.plain(w.done, in.start, p)
			w.token(p)
			in.masked = true
		}
		w.done = in.end
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
	if w.done < e {
		w.plain(w.done, e, p)
		w.done = e
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
	if w.hi > w.lo {
		w.out = append(w.out, p[w.lo:w.hi]...)
		w.lo, w.hi = 0, 0
	}
	w.out = append(w.out, b...)
}

// keep saves the bytes held back, [done, pos), before p goes away.
func (w *Writer) keep(p []byte) {
	if w.done < w.base {
		from := w.base - int64(len(w.held))
		n := copy(w.held, w.held[w.done-from:])
		w.held = append(w.held[:n], p...)
	} else {
		w.held = append(w.held[:0], p[w.done-w.base:]...)
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
