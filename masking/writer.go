package masking

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Write and Flush after Close.
var ErrClosed = errors.New("masking: write to a closed Writer")

// maxRetained bounds the buffers a Writer keeps between writes; a larger
// one, grown by an unusually large Write, is released.
const maxRetained = 1 << 20

// A Writer masks its Set's secrets in the bytes written to it and writes
// the result to an underlying writer: every occurrence of a pattern, and
// every detector match, is covered; overlapping and adjacent ones are
// merged, and each merged run becomes one mask token. The output does not
// depend on how the input is split into writes.
//
// Each Write passes on at once every byte that cannot be part of a secret,
// in a single Write to the underlying writer (none if there is nothing to
// pass on). Held back are only the bytes of a pending partial match: a
// suffix of the input that is a proper prefix of a pattern (at most the
// longest pattern's length minus one), or the bounded part of a detector
// match that is masked only once the match is complete (the 16 characters
// of an AWS key id after AKIA, a URL password before its '@'; at most
// 256 bytes). They are released when the match fails, or by Flush or
// Close. There is no line buffering and no timer.
//
// Escape sequences (colours, cursor movement) are invisible to matching
// unless Options.NoANSI is set: a secret with colour changes inside it is
// masked, and the sequences inside a masked run are written after its
// mask token, so the terminal's colour state is kept. A pattern's
// occurrences in the raw bytes are masked as well, so a secret that an
// escape sequence swallows (printed after a stray "ESC [") is masked; a
// partial one is held back from its first byte, inside the sequence.
//
// A secret added to the Set mid-stream masks every occurrence that starts
// in bytes the Writer has not passed on (including bytes it holds back,
// and a run it is masking); bytes already passed on are never retracted.
//
// Its methods may be called from several goroutines, but a Writer is one
// stream: use one Writer per output stream.
type Writer struct {
	set *Set
	dst io.Writer

	mu sync.Mutex
	m  *matcher

	// The input ("raw") side.
	pos     int64  // input bytes consumed
	rawDone int64  // input bytes passed on or dropped
	held    []byte // input bytes [rawDone, pos) as of the last call
	lex     lexer
	gaps    []gap // escape sequences; gaps[gh:] end after rawDone
	gh      int
	cumBase int64 // invisible bytes before gaps[gh]

	// The matched ("clean") side: the input without escape sequences.
	cpos  int64 // clean bytes consumed
	cdone int64 // clean bytes released
	iv    []interval
	head  int // iv[head:] are the pending intervals, sorted, disjoint, not adjacent
	sc    scanner
	insts []inst
	clean []byte

	// Output of the current call: out, or p[lo:hi] when that is all of it
	// (the common case, which needs no copy).
	base   int64 // input offset of p[0]
	out    []byte
	lo, hi int
	seg    []byte // with add-mask handling: the segment of input lo and hi index

	rv  rawView     // matches in the raw bytes that escape sequences hide
	hv  hexView     // matches in the decoded bytes of hex runs
	wv  wrapView    // matches in the joined lines of wrapped base64
	cls byteClasses // of the clean bytes of a write, for the views

	cmd *commands // ::add-mask:: handling, if enabled

	err        error // sticky error of the underlying writer
	closed     bool
	redactions atomic.Int64
}

// A WriterOption configures a Writer.
type WriterOption func(*Writer)

// NewWriter returns a Writer that writes to w the bytes written to it, with
// the Set's secrets masked. Each output stream (stdout, stderr) needs its
// own Writer; they share the Set.
func (s *Set) NewWriter(w io.Writer, opts ...WriterOption) *Writer {
	wr := &Writer{set: s, dst: w, m: s.matcher()}
	wr.sc.cls = &wr.cls
	wr.hv.ansi, wr.hv.hit, wr.wv.hit = s.ansi, hitHex, hitBase64
	wr.rawCaps()
	for _, o := range opts {
		o(wr)
	}
	return wr
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
	if len(p) == 0 {
		return 0, nil
	}
	if w.cmd != nil {
		w.writeCommands(p)
		if len(w.out) > 0 {
			w.settle()
		}
		seg := w.seg
		w.seg = nil
		return w.emit(seg, len(p))
	}
	w.feed(p, false)
	return w.emit(p, len(p))
}

// Flush writes the bytes held back, as if the stream ended here: a pending
// partial match is abandoned, so a secret split across a Flush is not
// masked, and a masked run (such as a token after its prefix) ends. Use it
// only where the output must be complete (Close flushes).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	w.flush()
	_, err := w.emit(nil, 0)
	return err
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
	w.flush()
	_, err := w.emit(nil, 0)
	return err
}

// Buffered returns the number of input bytes held back.
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := int(w.pos - w.rawDone)
	if w.cmd != nil {
		n += w.cmd.buffered()
	}
	return n
}

// Redactions returns the number of mask tokens w has written.
func (w *Writer) Redactions() int { return int(w.redactions.Load()) }

func (w *Writer) flush() {
	if w.cmd != nil {
		w.flushCommands()
		w.settle()
	}
	w.feed(nil, true)
}

// feed masks p, appending what can be passed on to the call's output. With
// final, the stream ends after p.
func (w *Writer) feed(p []byte, final bool) {
	w.base = w.pos
	w.refresh()
	m := w.m
	w.pruneGaps()
	q := p
	w.lex.starts = w.lex.starts[:0]
	// NUL bytes are hidden like escape sequences.
	lexed := w.set.ansi && (w.lex.state != lexText || indexEscNul(p) >= 0)
	if lexed {
		w.lex.rec, w.lex.pairs, w.lex.may = len(m.pats) > 0, m.pairs, &m.starts
		if len(m.tiny) > 0 {
			w.lex.pairs = nil // patterns of one byte are not in it
		}
		w.clean, w.gaps = w.lex.lex(w.clean[:0], w.gaps, p, w.pos, w.cpos, w.lastCum())
		q = w.clean
	}
	w.pos += int64(len(p))
	prev, end := w.cpos, w.cpos+int64(len(q))
	w.cpos = end

	// The scan classifies q for the views too (w.cls).
	sc := &w.sc
	sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = m, q, prev, end, final, 0
	sc.run()
	if len(w.lex.starts) > 0 || len(w.rv.insts) > 0 {
		w.rawScan(p, final)
	}
	for _, mt := range sc.matches {
		w.add(mt.st, mt.en)
		w.set.hits[m.pats[mt.ref].hit].Add(1)
	}
	for _, mt := range sc.redrawn {
		w.add(mt.st, mt.en)
	}
	viewHold := min(w.hexScan(q, prev, final), w.wrapScan(q, prev, final))
	hold := w.instances(q, prev, final)
	if !final {
		hold = min(hold, end-int64(sc.pend), w.rv.capC, viewHold)
	}
	w.release(hold, p)
	if final {
		w.iv, w.head = w.iv[:0], 0
		w.insts = w.insts[:0]
		w.rv.drops, w.rv.dh = w.rv.drops[:0], 0
		sc.ctx, sc.lo = sc.ctx[:0], end
	} else {
		look := max(sc.pend, sc.endMatch)
		if held := min(w.rv.capC, viewHold); held < end {
			// The visible bytes a raw match or a view holds back are
			// matched against secrets added later too.
			look = max(look, int(end-held))
		}
		sc.lo = end - int64(look)
		sc.retain(max(look, m.kctx))
		w.hv.retain(hold)
		w.wv.retain(hold)
	}
	w.keep(p)
	if cap(w.clean) > maxRetained {
		w.clean = nil
	}
}

// instances advances the detector and tail instances over q, starts those
// of this write's matches and trigger shapes, adds their masked runs to the
// intervals, and returns the earliest offset a pending one holds back.
func (w *Writer) instances(q []byte, prev int64, final bool) int64 {
	sc, m := &w.sc, w.m
	for i := range w.insts {
		w.step(&w.insts[i], q, prev)
	}
	for _, mt := range sc.matches {
		t := m.pats[mt.ref].tail
		if t == tailNone || mt.en < prev || w.covered(kindTail, int32(t), mt.en) {
			continue
		}
		w.start(newTail(t, mt.en), q, prev)
	}
	if len(sc.dets) > 0 {
		d := sc.dets
		for i := 1; i < len(d); i++ { // by start; nearly sorted already
			for j := i; j > 0 && d[j].st < d[j-1].st; j-- {
				d[j], d[j-1] = d[j-1], d[j]
			}
		}
		for _, x := range d {
			r := int32(m.det.triggers[x.trig].rule)
			if w.covered(m.det.rules[r].kind, r, x.st) {
				continue
			}
			w.start(w.newInst(x), q, prev)
		}
	}
	hold := prev + int64(len(q))
	keep := 0
	for i := range w.insts {
		in := &w.insts[i]
		if final && in.start < 0 {
			continue // abandoned: nothing of it was masked
		}
		if in.start >= 0 && in.at > in.added {
			w.add(in.added, in.at)
			in.added = in.at
		}
		if in.done || final {
			continue
		}
		if in.hold >= 0 {
			hold = min(hold, in.hold)
		}
		w.insts[keep] = *in
		keep++
	}
	w.insts = w.insts[:keep]
	return hold
}

// start runs a new instance over q and keeps it if it is still running or
// masked something.
func (w *Writer) start(in inst, q []byte, prev int64) {
	w.step(&in, q, prev)
	if !in.done || in.start >= 0 {
		w.insts = append(w.insts, in)
	}
}

// covered reports whether an instance of the same kind and rule (or tail)
// already masks what a new one starting at st would: one that masks, or is
// masking, the byte at st, when their runs end at the same byte whatever
// follows (a later match of a run rule is inside its run); for a tail
// whose run is bounded, only one that starts at st.
//
// A bounded tail that is waiting for the byte at st does not cover a new
// one from st: it may stop short of where the new one would (a base64
// core's tail that has read its character and waits for padding, when a
// longer core ends there), and whether it is still waiting depends on how
// the input was split.
func (w *Writer) covered(kind ruleKind, idx int32, st int64) bool {
	bounded := kind == kindTail && w.m.det.tails[idx].bounded()
	for i := range w.insts {
		in := &w.insts[i]
		if in.kind != kind || in.idx != idx {
			continue
		}
		if bounded && in.start == st || !bounded && in.covers(st) {
			return true
		}
	}
	return false
}

// refresh switches to the Set's current matcher if secrets were added,
// rescanning the bytes that can still be matched for the new patterns.
func (w *Writer) refresh() {
	m := w.set.matcher()
	if m == w.m {
		return
	}
	old := w.m
	w.m = m
	sc := &w.sc
	sc.matches = sc.matches[:0]
	if len(w.sc.ctx) > 0 {
		sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = m, nil, w.cpos, w.cpos, false, old.gen+1
		sc.run()
	}
	if w.set.ansi && w.rawDone < w.pos {
		w.rawRescan(old.gen + 1)
	}
	w.hv.rescan(w, old.gen+1)
	w.wv.rescan(w, old.gen+1)
	for _, mt := range sc.matches {
		w.add(mt.st, mt.en)
		w.set.hits[m.pats[mt.ref].hit].Add(1)
	}
}
