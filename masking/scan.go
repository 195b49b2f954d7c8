package masking

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// A scanner finds, for one write of clean (escape-free) bytes q, the
// pattern occurrences and trigger shapes that end in q, and the longest
// pending partial match at the end of q. It keeps, between writes, the last
// clean bytes (ctx) that an occurrence ending in the next write may start
// in.
//
// Offsets are clean stream offsets: q is [prev, end), ctx is
// [prev-len(ctx), prev).
type scanner struct {
	m         *matcher
	ctx, q    []byte
	prev, end int64
	// lo is the earliest start of an occurrence: the start of the longest
	// suffix of the stream before q that is a prefix of a pattern (a
	// pending partial match, or a match ending there). An occurrence of an
	// older pattern cannot start earlier; one of a pattern added since must
	// not (those bytes are released).
	lo int64
	// newer, when not 0, makes this a rescan of ctx after secrets were
	// added: it reports the occurrences inside ctx of the patterns of this
	// generation and later.
	newer uint64
	final bool // end of stream: nothing is pending

	matches  []match
	dets     []det
	redrawn  []match // prefixes of patterns a carriage return ends (no ref)
	pend     int     // longest pending partial match: bytes before end
	endMatch int     // longest match ending at end

	junc, tmp []byte
	hits      []uint64 // filterGroups' bitmap
	// cls, if not nil, gets the view classes of q on a scan (not a
	// rescan), from the filter where it can (filterGroups). The scan finds
	// q's carriage returns in it.
	cls *byteClasses
}

// A match is an occurrence [st, en) of pattern ref.
type match struct {
	st, en int64
	ref    uint32
}

// A det is a trigger shape found at st.
type det struct {
	st   int64
	trig uint32
}

func (s *scanner) ctxStart() int64 { return s.prev - int64(len(s.ctx)) }

// run scans q.
func (s *scanner) run() {
	s.matches, s.dets, s.redrawn, s.pend, s.endMatch = s.matches[:0], s.dets[:0], s.redrawn[:0], 0, 0
	m := s.m
	classify := s.cls != nil && s.newer == 0
	if classify {
		s.cls.size(len(s.q))
	}
	classified := 0 // q's blocks the filter classified
	if !m.empty {
		ctxStart := s.ctxStart()
		mainFrom := min((s.prev+7)&^7, s.end)
		if ctxStart < mainFrom {
			// The windows that start before the first aligned block of q,
			// read from ctx and the first bytes of q.
			s.junc = append(append(s.junc[:0], s.ctx...), s.q[:min(len(s.q), 16)]...)
			s.windows(s.junc, ctxStart, ctxStart, mainFrom)
		}
		if mainFrom < s.end {
			var j int
			j, classified = s.blocks(int(mainFrom - s.prev))
			s.windows(s.q, s.prev, s.prev+int64(j), s.end)
		}
	}
	if classify {
		s.cls.classifyFrom(s.q, classified)
	}
	if m.empty {
		return
	}
	if s.newer == 0 && len(m.pats) > 0 {
		s.redraws()
	}
	if len(m.tiny) > 0 {
		s.tinyScan()
	}
	if !s.final && s.newer == 0 {
		s.pending()
	}
}

// blocks tests the windows of q's aligned 64-byte groups from j while a
// whole 72 bytes are left, and returns where it stopped and how many of
// q's blocks it classified for s.cls (filterGroups).
//
// The first filter levels of all groups are tested first, without a
// branch, into a bitmap of the windows that hit (filterGroups); then the
// candidates of those windows are verified. Keeping the filter loop free
// of unpredictable branches lets the processor overlap the table loads of
// many windows, or lets it be vectorised.
func (s *scanner) blocks(j int) (stop, classified int) {
	m := s.m
	q := s.q[j:]
	groups := max(0, (len(q)-8)/64)
	if m.ss == 1 || groups == 0 {
		return j, 0 // windows tests every window
	}
	if cap(s.hits) < groups || cap(s.hits) > maxRetained/64 {
		s.hits = make([]uint64, groups) // or shrunk after an unusually large write
	}
	s.hits = s.hits[:groups]
	cls := s.cls
	if s.newer != 0 {
		cls = nil
	}
	classified = m.filterGroups(q[:64*groups+8], s.hits, s.q, cls)
	for g, hits := range s.hits {
		for ; hits != 0; hits &= hits - 1 {
			o := 64*g + windowAt(bits.TrailingZeros64(hits))
			i := s.prev + int64(j+o)
			if hits&(1<<32-1) == 0 {
				s.longWindow(i, binary.LittleEndian.Uint64(q[o:]))
			} else {
				s.shortWindow(i, binary.LittleEndian.Uint32(q[o:]))
			}
		}
	}
	return j + 64*groups, classified
}

// A group's word in filterGroups' bitmap has a bit per window that hit:
// bits 0-15 for the short windows at offsets 0, 4, ..., 60, bits 16-31 for
// those at 2, 6, ..., 62 (with a stride of 2), bits 32-39 for the long
// windows at 0, 8, ..., 56.
func windowAt(bit int) int {
	if bit >= 32 {
		return 8 * (bit - 32)
	}
	return 4*(bit&15) + 2*(bit>>4)
}

// filterGroupsGo sets out[g] to the bits of the windows that hit in the
// 64-byte group q[64g:], which has 72 bytes (see windowAt), or may hit:
// a short window's bit is set if the first of its two filter bits is. The
// short stride must be 0, 2 or 4.
func (m *matcher) filterGroupsGo(q []byte, out []uint64) {
	// Indexes are masked with len-1 (table sizes are powers of two), which
	// spares the compiler's range checks.
	lb := m.long.bits
	lm := uint64(len(lb) - 1)
	_ = lb[lm]
	sb, sh := m.short.bits, (m.short.sshift-32)&31
	sm := uint64(len(sb) - 1)
	if m.ss == 0 {
		sb, sm = make([]uint64, 1), 0
	}
	_ = sb[sm]
	ss := m.ss
	for g := range out {
		b := q[64*g : 64*g+72 : 64*g+72]
		var hit uint64
		for k := range 8 {
			h := longHash(binary.LittleEndian.Uint64(b[8*k:]))
			bm := bloomMask(h)
			d := lb[fold(h)&lm]&bm ^ bm // 0 if all its bits are set
			hit |= (1 ^ (d|-d)>>63) << (32 + k)
		}
		// The short windows at 8k, 8k+4 (and with stride 2 at 8k+2,
		// 8k+6) are bits 2k, 2k+1 (2k+16, 2k+17) of the group.
		switch ss {
		case 2:
			for k := range 8 {
				blk := b[8*k : 8*k+16 : 8*k+16]
				w := binary.LittleEndian.Uint64(blk)
				hit |= shortHit(sb, sm, sh, uint32(w))<<(2*k) | shortHit(sb, sm, sh, uint32(w>>32))<<(2*k+1) |
					shortHit(sb, sm, sh, uint32(w>>16))<<(2*k+16) | shortHit(sb, sm, sh, binary.LittleEndian.Uint32(blk[6:]))<<(2*k+17)
			}
		case 4:
			for k := range 8 {
				w := binary.LittleEndian.Uint64(b[8*k:])
				hit |= shortHit(sb, sm, sh, uint32(w))<<(2*k) | shortHit(sb, sm, sh, uint32(w>>32))<<(2*k+1)
			}
		}
		out[g] = hit
	}
}

// shortHit returns 1 if window x may be in the short filter's first level
// sb, 0 otherwise; sm is len(sb)-1, sh the word index shift. It tests the
// first of the window's two bits only, which is cheaper in Go; the second
// is tested when its candidates are looked up (filter.has).
func shortHit(sb []uint64, sm uint64, sh uint8, x uint32) uint64 {
	h := shortMix(x)
	i := uint64(h >> sh)
	return sb[i>>1&sm] >> (i&1<<5 | uint64(h>>14&31)) & 1
}

// longWindow verifies the candidates of the long window w at offset i if
// both filter levels have it.
func (s *scanner) longWindow(i int64, w uint64) {
	f := &s.m.long
	h := longHash(w)
	if !f.has(h) {
		return
	}
	for c := range f.candidates(h, fp64(w)) {
		s.literal(c.ref, i-int64(c.off))
	}
}

// shortWindow does the same for the short window x.
func (s *scanner) shortWindow(i int64, x uint32) {
	f := &s.m.short
	h := shortHash(x)
	if !f.has(h) {
		return
	}
	for c := range f.candidates(h, x) {
		if c.ref&trigBit != 0 {
			s.trigger(c.ref&^trigBit, i-int64(c.off))
		} else {
			s.literal(c.ref, i-int64(c.off))
		}
	}
}

// windows tests the windows at stream offsets [from, to) that fit in buf,
// whose first byte is at offset base, and verifies the candidates of hits.
func (s *scanner) windows(buf []byte, base, from, to int64) {
	m := s.m
	for i := from; i < to; i++ {
		j := int(i - base)
		if i&7 == 0 && j+8 <= len(buf) {
			s.longWindow(i, binary.LittleEndian.Uint64(buf[j:]))
		}
		if m.ss > 0 && i&int64(m.ss-1) == 0 && j+4 <= len(buf) {
			s.shortWindow(i, binary.LittleEndian.Uint32(buf[j:]))
		}
	}
}

// tinyScan looks up the patterns of 1-3 bytes at every offset where one
// ending in q (or, in a rescan, in ctx) can start.
func (s *scanner) tinyScan() {
	m := s.m
	from := max(s.lo, s.ctxStart())
	if s.newer == 0 {
		from = max(from, s.prev-2)
	}
	for st := from; st < s.end; st++ {
		c := s.byteAt(st)
		for _, ref := range m.tiny[m.tinyStart[c]:m.tinyStart[int(c)+1]] {
			s.literal(ref, st)
		}
	}
}

func (s *scanner) byteAt(i int64) byte {
	if i >= s.prev {
		return s.q[i-s.prev]
	}
	return s.ctx[i-s.ctxStart()]
}

// literal verifies pattern ref at st: a complete occurrence is recorded if
// it ends in q (or, in a rescan, is of a newer pattern), a partial one that
// runs to the end of q is pending.
func (s *scanner) literal(ref uint32, st int64) {
	if st < s.lo {
		return
	}
	p := &s.m.pats[ref]
	n, ok := s.compare(st, p.s)
	switch {
	case !ok:
		// A prefix of 15 bytes or more that a carriage return ends (the
		// shorter ones are looked up at each CR: redraws).
		if c := st + int64(n); n >= longMin && c >= s.prev && s.newer == 0 && s.q[c-s.prev] == '\r' && p.s[n] != '\n' {
			s.redrawn = append(s.redrawn, match{st: st, en: c})
		}
	case n < len(p.s):
		if !s.final && s.newer == 0 {
			s.pend = max(s.pend, int(s.end-st))
		}
	default:
		en := st + int64(n)
		if en <= s.prev && (s.newer == 0 || p.gen < s.newer) {
			return
		}
		s.matches = append(s.matches, match{st, en, ref})
		if en == s.end {
			s.endMatch = max(s.endMatch, n)
		}
	}
}

// compare compares p with the stream at st, as far as the stream goes, and
// returns how many bytes it compared, or, if they differ, how many bytes
// agree before the first that differs.
func (s *scanner) compare(st int64, p string) (int, bool) {
	n := 0
	if st < s.prev {
		a := s.ctx[st-s.ctxStart():]
		n = min(len(a), len(p))
		if string(a[:n]) != p[:n] {
			return commonPrefix(a[:n], p), false
		}
		if n == len(p) {
			return n, true
		}
		st = s.prev
	}
	b := s.q[st-s.prev:]
	k := min(len(b), len(p)-n)
	if string(b[:k]) != p[n:n+k] {
		return n + commonPrefix(b[:k], p[n:]), false
	}
	return n + k, true
}

func commonPrefix(a []byte, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// redraws finds, at each carriage return in q, the prefixes of patterns
// it ends: those of minRedrawPrefix bytes or more, not all of the pattern,
// where the pattern does not go on with CR (the stream would go on
// matching) nor LF (the value with other line endings). A line redrawn
// with a growing prefix of a secret then leaves no long prefix in the log.
//
// A prefix of 8 to 15 bytes of a long pattern ends with a window the long
// filter has (at offset 0 to 7 of the pattern); those of short patterns
// end with a window the redraw filter has; one probe of each finds them.
// Longer prefixes hold a tested window and are found when their candidate
// fails to match at the CR (literal).
func (s *scanner) redraws() {
	m := s.m
	lo := max(s.lo, s.ctxStart())
	for i := 0; ; i++ {
		if s.cls != nil {
			if i = nextMarked(s.cls.crs, s.cls.crsIn, i); i < 0 {
				return
			}
		} else if k := bytes.IndexByte(s.q[i:], '\r'); k >= 0 {
			i += k
		} else {
			return
		}
		c := s.prev + int64(i)
		if c-lo >= 8 {
			w := binary.LittleEndian.Uint64(s.span(c-8, 8))
			if h := longHash(w); m.long.has(h) {
				for cd := range m.long.candidates(h, fp64(w)) {
					s.redrawn1(cd.ref, c, int(cd.off)+8, lo)
				}
			}
		}
		if c-lo >= shortWin && len(m.redraw.cands) > 0 {
			x := binary.LittleEndian.Uint32(s.span(c-shortWin, shortWin))
			if h := shortHash(x); m.redraw.has(h) {
				for cd := range m.redraw.candidates(h, x) {
					s.redrawn1(cd.ref, c, int(cd.off), lo)
				}
			}
		}
	}
}

// redrawn1 records the first n bytes of pattern ref before the carriage
// return at c if they are there and it is a prefix the CR ends.
func (s *scanner) redrawn1(ref uint32, c int64, n int, lo int64) {
	p := s.m.pats[ref].s
	if st := c - int64(n); st >= lo && n < len(p) && p[n] != '\r' && p[n] != '\n' &&
		string(s.span(st, n)) == p[:n] {
		s.redrawn = append(s.redrawn, match{st: st, en: c})
	}
}

// trigger verifies trigger t's shape at st and records it if it ends in q.
func (s *scanner) trigger(t uint32, st int64) {
	tr := &s.m.det.triggers[t]
	size := int64(tr.size())
	if s.newer != 0 || st+size > s.end || st+size <= s.prev || st < s.ctxStart() {
		return
	}
	if !tr.matchAt(s.span(st, int(size))) {
		return
	}
	if r := &s.m.det.rules[tr.rule]; r.kind == kindUserinfo && !s.maybeUserinfo(st+size, r.pre) {
		return
	}
	s.dets = append(s.dets, det{st, t})
}

// maybeUserinfo reports whether the user name that starts at i may be
// followed by ':' (most URLs have no user name, and their host name is
// followed by '/'), so that a URL-password detector is worth starting.
func (s *scanner) maybeUserinfo(i int64, user *class) bool {
	q := s.q[i-s.prev:]
	n := min(len(q), maxUserinfo)
	j := 0
	for j < n && user[q[j]] {
		j++
	}
	return j == n || q[j] == ':'
}

// span returns the n stream bytes at st, which are available.
func (s *scanner) span(st int64, n int) []byte {
	if st >= s.prev {
		return s.q[st-s.prev : st-s.prev+int64(n)]
	}
	s.tmp = append(s.tmp[:0], s.ctx[st-s.ctxStart():]...)
	if k := n - len(s.tmp); k > 0 {
		s.tmp = append(s.tmp, s.q[:k]...)
	}
	return s.tmp[:n]
}

// pending finds the longest suffix of the stream, up to 14 bytes, that is
// a proper prefix of a pattern (longer ones hold a tested window and were
// found by the scan).
func (s *scanner) pending() {
	limit := min(s.m.headMax, int(s.end-s.lo))
	for n := limit; n > s.pend; n-- {
		if s.m.properPrefix(s.span(s.end-int64(n), n)) {
			s.pend = n
			return
		}
	}
}

// retain keeps the last keep clean bytes of ctx and q as the next ctx.
func (s *scanner) retain(keep int) {
	keep = min(keep, len(s.ctx)+len(s.q))
	if keep <= len(s.q) {
		s.ctx = append(s.ctx[:0], s.q[len(s.q)-keep:]...)
	} else {
		drop := len(s.ctx) - (keep - len(s.q))
		n := copy(s.ctx, s.ctx[drop:])
		s.ctx = append(s.ctx[:n], s.q...)
	}
	if cap(s.ctx) > maxRetained {
		s.ctx = append([]byte(nil), s.ctx...)
	}
}
