package masking

import "math"

// A view is a second stream in which a Writer finds the patterns: bytes
// decoded (the hex view) or joined (the wrapped base64 view) from the
// clean bytes. It is cut into segments, each a stream of its own to the
// scanner; each of its bytes comes from a unit of clean bytes, and a match
// masks the clean bytes from its first unit's start to its last unit's
// end.
type view struct {
	sc  scanner // over the view's bytes: offsets are view offsets
	hit int     // the hit counter of its matches

	dpos  int64 // view bytes so far
	segAt int64 // view offset of the open segment's first byte
	// For the view offsets [ubase, dpos) of the open segment: the clean
	// offsets of each one's unit, start and end.
	ubase    int64
	ust, uen []int64
	// live says whether a match ending at a unit from view offset liveAt
	// on counts (hexview.go); matches ending before do not.
	live   bool
	liveAt int64
	// kept is the clean offset from which the input was not passed on at
	// the end of the last write: a unit that begins before it begins no
	// match (its bytes were passed on).
	kept    int64
	piece   []byte // view bytes of this write not yet scanned
	pieceAt int64  // view offset of piece[0]
}

// emit adds byte c, from the clean bytes [st, en), to the open segment;
// live says whether a match that ends with it counts.
func (v *view) emit(c byte, st, en int64, live bool) {
	if st < v.kept {
		v.sc.lo = max(v.sc.lo, v.dpos+1)
	}
	if len(v.piece) == 0 {
		v.pieceAt = v.dpos
	}
	v.piece = append(v.piece, c)
	v.ust = append(v.ust, st)
	v.uen = append(v.uen, en)
	if live && !v.live {
		v.live, v.liveAt = true, v.dpos
	}
	v.dpos++
}

// end scans the rest of the open segment as a stream's end and starts
// the next one. A segment shorter than every pattern (a timestamp's three
// hex units) is not scanned.
func (v *view) end(w *Writer) {
	if v.live && v.dpos-v.segAt >= int64(w.m.minLen) {
		v.scanPiece(w, true)
	}
	v.piece, v.segAt, v.live = v.piece[:0], v.dpos, false
	v.sc.ctx = v.sc.ctx[:0]
	v.sc.lo = v.dpos
	v.ust, v.uen, v.ubase = v.ust[:0], v.uen[:0], v.dpos
}

// scanPiece scans the view bytes of this write (all of the segment's
// after those retained), and masks the units of the matches.
func (v *view) scanPiece(w *Writer, final bool) {
	sc := &v.sc
	if len(v.piece) == 0 && (final || len(sc.ctx) == 0) {
		sc.matches, sc.pend = sc.matches[:0], 0
		return
	}
	if len(v.piece) == 0 {
		v.pieceAt = v.dpos
	}
	sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = w.m, v.piece, v.pieceAt, v.dpos, final, 0
	sc.run()
	v.mask(w)
	v.piece = v.piece[:0]
	if !final {
		sc.retain(int(v.dpos - sc.lo))
	}
}

// mask adds the scanner's matches to the Writer's intervals.
func (v *view) mask(w *Writer) {
	for _, mt := range v.sc.matches {
		if v.live && mt.en > v.liveAt {
			w.add(v.ust[mt.st-v.ubase], v.uen[mt.en-1-v.ubase])
			w.set.hits[v.hit].Add(1)
		}
	}
}

// pending returns where the pending partial match of the open segment
// begins, after scanPiece, or math.MaxInt64.
func (v *view) pending() int64 {
	if v.sc.pend == 0 {
		return math.MaxInt64
	}
	return v.ust[v.dpos-int64(v.sc.pend)-v.ubase]
}

// retain keeps, of the open segment, the view bytes whose units begin at
// or after clean offset keep (not passed on): a secret added later is
// matched in them, and a pending match begins there at the earliest.
func (v *view) retain(keep int64) {
	v.kept = keep
	k := 0
	for k < len(v.ust) && v.ust[k] < keep {
		k++
	}
	lo := max(v.sc.lo, v.ubase+int64(k))
	v.sc.lo = lo
	if ctx, n := v.sc.ctx, int(v.dpos-lo); n < len(ctx) {
		v.sc.ctx = ctx[:copy(ctx, ctx[len(ctx)-n:])]
	}
	if k := int(lo - v.ubase); k > 0 {
		v.ust = append(v.ust[:0], v.ust[k:]...)
		v.uen = append(v.uen[:0], v.uen[k:]...)
		v.ubase = lo
	}
	if cap(v.ust) > maxRetained/8 {
		v.ust, v.uen = append([]int64(nil), v.ust...), append([]int64(nil), v.uen...)
	}
}

// rescan matches the patterns of generation newer and later in the
// retained view bytes of the open segment.
func (v *view) rescan(w *Writer, newer uint64) {
	if len(v.sc.ctx) == 0 {
		return
	}
	sc := &v.sc
	sc.m, sc.q, sc.prev, sc.end, sc.final, sc.newer = w.m, nil, v.dpos, v.dpos, false, newer
	sc.run()
	v.mask(w)
}
