package masking

import (
	"encoding/binary"
	"iter"
	"math"
	"math/bits"
	"slices"
)

// The matcher finds every occurrence of a set of literal patterns, and the
// triggers of the detectors, in one pass over the output without looking
// at most bytes twice. A full Aho-Corasick DFA over tens of thousands of
// patterns is too big and too slow (a dependent table load per byte), so
// the matcher filters instead:
//
//   - Long patterns (15 bytes and more) register the hash of each of their
//     first eight 8-byte windows in a filter. The scan hashes the window at
//     every eighth position of the stream only: any occurrence of a long
//     pattern starts within eight bytes before such a position and holds
//     the window starting there, so exactly one tested window of every
//     occurrence is registered.
//   - Short patterns (4 to 14 bytes) and detector trigger shapes do the
//     same with 4-byte windows at every ss-th position, ss the largest
//     power of two up to min(4, shortest - 3). The built-in detectors have
//     5-byte shapes ("ghp_" and a token byte), so ss is 2 with them: four
//     short windows per 8 bytes, which costs more than the long window.
//   - Tiny patterns (1 to 3 bytes, only with Options.MinLength below 4) are
//     looked up at every position.
//
// The scan tests the first filter levels of a write's windows 64 bytes at
// a time without a branch (filterGroups: with AVX2, eight short or four
// long windows per instruction), into a bitmap of the windows that hit. A
// hit leads to the window's bucket of candidates (pattern or trigger,
// offset of the window in it), which are verified byte by byte.
//
// A stream must also know which of its last bytes could begin a match (the
// holdback rule). A pending partial match of 15 bytes or more holds a
// tested window and is found by the scan; shorter ones are looked up in
// heads, the sorted first 15 bytes of every pattern.
type matcher struct {
	gen    uint64
	pats   []pattern
	maxLen int
	minLen int // of the shortest pattern
	det    *detectorSet
	empty  bool // no patterns and no triggers

	long  filter
	ss    int // short stride: 1, 2 or 4; 0 if there is no short filter
	short filter

	tinyStart [257]uint32 // tiny[tinyStart[b]:tinyStart[b+1]] start with byte b
	tiny      []uint32
	first     [256]bool // bytes that begin a pattern
	pairs     []uint64  // a bitmap of the two bytes that begin a pattern

	heads   []head
	headMax int // longest suffix looked up in heads
	kctx    int // bytes of context a trigger detection needs before a write

	// redraw has, for each pattern of 5 to 14 bytes and each prefix of it
	// that a carriage return may end (minRedrawPrefix), the prefix's last
	// four bytes (candidate offset: the prefix's length).
	redraw filter

	// starts has the first four bytes of every pattern of four bytes or
	// more, for the raw view's lookups at escape sequence bytes.
	starts startsFilter
}

// A startsFilter is a blocked Bloom filter of 4-byte strings: three bits
// in a 32-bit word; shift is 64 - log2(len(words)).
//
// The strings looked up are few and repeat (the bytes of a log's colour
// codes and what follows them), so a false pass tends to repeat too, and
// each costs a lookup in the large filters. With 10,000 secrets (44,600
// distinct first four bytes) and a generated log, 256 KiB with two bits a
// string passed 9.7 false strings per 64 KiB; 128 KiB with three, 0.1.
type startsFilter struct {
	words []uint32
	shift uint8
}

// may reports whether x may be in the filter.
func (f *startsFilter) may(x uint32) bool {
	h := uint64(x) * k64
	b := startsMask(h)
	return f.words[h>>(f.shift&63)]&b == b
}

func (f *startsFilter) add(x uint32) {
	h := uint64(x) * k64
	f.words[h>>(f.shift&63)] |= startsMask(h)
}

// startsMask returns the bits of a string's word: bits of h below those
// of the word's index, which takes at most 15.
func startsMask(h uint64) uint32 {
	return uint32(1)<<(h>>43&31) | uint32(1)<<(h>>38&31) | uint32(1)<<(h>>33&31)
}

const (
	k64      = 0x9E3779B97F4A7C15
	k32      = 0x9E3779B1
	trigBit  = 1 << 31
	longMin  = 15 // window 8 + stride 8 - 1
	shortWin = 4
)

// A cand is a pattern or trigger that has a registered window at offset
// off, with the window's fingerprint.
type cand struct {
	ref uint32 // pattern index, or trigger index | trigBit
	fp  uint32
	off uint32
}

// A head is the first 15 bytes of a pattern, big-endian in hi and lo, and
// min(len, 15) in the low byte of lo: ordering heads orders the prefixes
// and then the lengths.
type head struct{ hi, lo uint64 }

func fp64(w uint64) uint32 { return uint32(w) ^ uint32(w>>32) }

// longHash and shortHash hash the windows of the two filters. The short
// hash is a 32-bit multiply, placed in the high half, so that the
// vectorised scan can compute eight at once; its high bits are folded into
// its low ones, which would otherwise depend on the window's first bytes
// only (the short filter's bits come from them), and windows of text that
// share those collide. With 10,000 secrets, the short filter's false hits
// on a generated log fell from 104 to 31 per 64 KiB.
func longHash(w uint64) uint64  { return w * k64 }
func shortHash(x uint32) uint64 { return uint64(shortMix(x)) << 32 }
func shortMix(x uint32) uint32  { y := x * k32; return y ^ y>>15 }

// build compiles the patterns and the Set's detectors.
func build(pats []pattern, det *detectorSet, gen uint64) *matcher {
	m := &matcher{gen: gen, pats: pats, det: det}
	m.empty = len(pats) == 0 && len(det.triggers) == 0
	shortest := 1 << 30
	nLong, nTiny := 0, 0
	for _, p := range pats {
		n := len(p.s)
		m.maxLen = max(m.maxLen, n)
		if m.minLen == 0 || n < m.minLen {
			m.minLen = n
		}
		m.first[p.s[0]] = true
		if n >= 2 {
			if m.pairs == nil {
				m.pairs = make([]uint64, 1<<16/64)
			}
			i := uint(p.s[0])<<8 | uint(p.s[1])
			m.pairs[i/64] |= 1 << (i % 64)
		}
		switch {
		case n >= longMin:
			nLong++
		case n >= shortWin:
			shortest = min(shortest, n)
		default:
			nTiny++
		}
	}
	for i := range det.triggers {
		shortest = min(shortest, det.triggers[i].size())
		m.kctx = max(m.kctx, det.triggers[i].size()-1)
	}
	if shortest < 1<<30 {
		m.ss = 1 << (bits.Len(uint(min(4, shortest-3))) - 1)
	}

	// Long filter: windows at offsets 0-7.
	m.long.init(nLong*8, true)
	m.long.fill(func(add func(w uint64, ref, off uint32)) {
		for i, p := range pats {
			if len(p.s) >= longMin {
				for k := range 8 {
					add(binary.LittleEndian.Uint64([]byte(p.s[k:k+8])), uint32(i), uint32(k))
				}
			}
		}
	}, longHash, fp64)

	// Short filter: windows at offsets 0..ss-1 of short patterns, and at
	// offsets probe..probe+ss-1 of trigger shapes.
	if m.ss > 0 {
		enum := func(add func(w uint64, ref, off uint32)) {
			for i, p := range pats {
				if n := len(p.s); n >= shortWin && n < longMin {
					for k := 0; k < m.ss; k++ {
						add(uint64(binary.LittleEndian.Uint32([]byte(p.s[k:k+4]))), uint32(i), uint32(k))
					}
				}
			}
			for i := range det.triggers {
				t := &det.triggers[i]
				po := probe(t, m.ss)
				for k := po; k < po+m.ss; k++ {
					windowsOf(t, k, func(w uint32) { add(uint64(w), uint32(i)|trigBit, uint32(k)) })
				}
			}
		}
		n := 0
		enum(func(uint64, uint32, uint32) { n++ })
		m.short.init(n, false)
		m.short.fill(enum, func(w uint64) uint64 { return shortHash(uint32(w)) }, func(w uint64) uint32 { return uint32(w) })
	}

	// Tiny patterns by first byte.
	if nTiny > 0 {
		m.tiny = make([]uint32, 0, nTiny)
		for b := range 256 {
			m.tinyStart[b] = uint32(len(m.tiny))
			for i, p := range pats {
				if len(p.s) < shortWin && p.s[0] == byte(b) {
					m.tiny = append(m.tiny, uint32(i))
				}
			}
		}
		m.tinyStart[256] = uint32(len(m.tiny))
	}

	// The ends of the redrawn prefixes of short patterns.
	ends := func(add func(w uint64, ref, off uint32)) {
		for i, p := range pats {
			if n := len(p.s); n >= shortWin+1 && n < longMin {
				for k := max(shortWin, minRedrawPrefix(n)); k < n; k++ {
					add(uint64(binary.LittleEndian.Uint32([]byte(p.s[k-shortWin:k]))), uint32(i), uint32(k))
				}
			}
		}
	}
	nEnds := 0
	ends(func(uint64, uint32, uint32) { nEnds++ })
	if nEnds > 0 {
		m.redraw.init(nEnds, false)
		m.redraw.fill(ends, func(w uint64) uint64 { return shortHash(uint32(w)) }, func(w uint64) uint32 { return uint32(w) })
	}

	// Starts, sized for 16 to 32 bits per pattern, at most 128 KiB.
	lg := min(max(8, bits.Len(uint(len(pats)/2))), 15)
	m.starts = startsFilter{words: make([]uint32, 1<<lg), shift: uint8(64 - lg)}
	for _, p := range pats {
		if len(p.s) >= shortWin {
			m.starts.add(binary.LittleEndian.Uint32([]byte(p.s)))
		}
	}

	// Heads, for the pending partial matches shorter than the long filter
	// finds.
	m.heads = make([]head, len(pats))
	for i, p := range pats {
		m.heads[i] = headOf(p.s, min(len(p.s), 15))
	}
	slices.SortFunc(m.heads, cmpHead)
	m.heads = slices.Compact(m.heads)
	m.headMax = min(14, m.maxLen-1)
	return m
}

func cmpHead(a, b head) int {
	switch {
	case a.hi != b.hi:
		return cmpU64(a.hi, b.hi)
	default:
		return cmpU64(a.lo, b.lo)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// headOf packs the first min(len(s), 15) bytes of s with length byte n.
func headOf[S string | []byte](s S, n int) head {
	var buf [16]byte
	copy(buf[:15], s[:min(len(s), 15)])
	buf[15] = byte(n)
	return head{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}
}

// properPrefix reports whether s (at most 14 bytes) is a proper prefix of
// some pattern: the first head ordered at or after (s, len(s)+1) starts
// with s if any does.
func (m *matcher) properPrefix(s []byte) bool {
	if !m.first[s[0]] {
		return false
	}
	if len(s) >= 2 {
		// Most suffixes of a write begin no pattern: a bitmap says so
		// sooner than the search.
		i := uint(s[0])<<8 | uint(s[1])
		if m.pairs == nil || m.pairs[i/64]>>(i%64)&1 == 0 {
			return false
		}
	}
	key := headOf(s, len(s)+1)
	i, _ := slices.BinarySearchFunc(m.heads, key, cmpHead)
	if i == len(m.heads) {
		return false
	}
	h := m.heads[i]
	n := uint(len(s))
	if n <= 8 {
		sh := 64 - 8*n
		return h.hi>>sh == key.hi>>sh
	}
	sh := 64 - 8*(n-8)
	return h.hi == key.hi && h.lo>>sh == key.lo>>sh
}

// mayStart reports whether a pattern of four bytes or more may start with
// the four bytes x.
func (m *matcher) mayStart(x uint32) bool { return m.starts.may(x) }

// minRedrawPrefix is the shortest prefix of a pattern of n bytes that is
// masked when a carriage return follows it (see scanner.redraws): half the
// pattern, but at least 4 bytes and at most 8.
func minRedrawPrefix(n int) int { return max(4, min(8, (n+1)/2)) }

// probe returns the offset in t's shape of its first registered window.
// Any stretch of ss windows inside the shape will do; it picks the one
// with the fewest window variants (case folding and classes multiply them)
// and then the rarest bytes (so "-----BEGIN " registers "EGIN", not
// "----").
func probe(t *trigger, ss int) int {
	span := ss + shortWin - 1
	best, bestN, bestScore := 0, math.MaxInt, -1
	for po := 0; po+span <= t.size(); po++ {
		n, score := 0, 0
		for k := po; k < po+ss; k++ {
			v := 1
			for j := range shortWin {
				v *= len(t.byteSet(k + j))
			}
			n += v
		}
		for p := po; p < po+span; p++ {
			if set := t.byteSet(p); len(set) == 1 {
				score += rarity(set[0])
			}
		}
		if n < bestN || n == bestN && score > bestScore {
			best, bestN, bestScore = po, n, score
		}
	}
	return best
}

// rarity is a rough rank of how uncommon a byte is in build logs.
func rarity(c byte) int {
	switch {
	case c == ' ' || c == '-' || c == '/' || c == ':':
		return 0
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return 1
	case c >= 'A' && c <= 'Z':
		return 2
	}
	return 3
}

// windowsOf calls f with every 4-byte window at offset k of t's shape.
func windowsOf(t *trigger, k int, f func(w uint32)) {
	var sets [shortWin][]byte
	for j := range shortWin {
		sets[j] = t.byteSet(k + j)
	}
	for _, a := range sets[0] {
		for _, b := range sets[1] {
			for _, c := range sets[2] {
				for _, d := range sets[3] {
					f(uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24)
				}
			}
		}
	}
}

// A filter is a hashed set of windows with the candidates behind each.
// A window's hash h chooses its place in the first level (which the scan
// loop tests) and, by its top bits, where its candidates start in an
// open-addressed table (so that a hit costs one cache miss there, not
// one for a bucket index and one for the candidates).
//
// The first levels are blocked Bloom filters: a word chosen by some bits
// of h, a few bits of it chosen by others, tested with one load. Their
// false positives are far rarer than a plain bitset's of the same size,
// which matters because each costs a detour out of the scan loop and cache
// misses in the candidate arrays. Long windows use 64-bit words chosen by
// the low bits of fold(h), five bits by the top 30 bits of h; short
// windows (the top 32 bits of h) 32-bit words chosen by their top bits,
// two bits by the ten below. The short filter is kept small enough to
// stay in the L1 cache, as the scan tests up to four short windows per
// block but one long one.
//
// The scan is bound by the memory accesses of the first levels, not by
// instructions, so their sizes matter more than their shape.
type filter struct {
	bits   []uint64 // first level: a blocked Bloom filter (long) or a bitset (short)
	bloom  bool
	mask   uint64 // Bloom filter words - 1
	sshift uint8  // 64 - log2(short filter words), 32 bits each
	cshift uint8  // 64 - log2(len(cands))
	cands  []cand // linear probing from h>>cshift; unused slots have ref noRef
}

// noRef marks an unused candidate slot.
const noRef = ^uint32(0)

// fold mixes the well-mixed high half of a multiplicative hash into its
// low half, so that masking it gives a good index.
func fold(h uint64) uint64 { return h ^ h>>32 }

// First level sizes, in bits per window: the long filter's shrinks to
// stay within maxLongBits (the L2 cache) while it has at least
// minLongBits; the short bitset is capped to stay in the L1 cache.
//
// A long filter read from the L3 cache costs the scan more than the
// false hits of one that stays in L2, and the smaller it is the more of
// L2 is left for the rest. With 10,000 secrets (516,000 distinct windows)
// and a generated log, the false hits per 64 KiB are: 2 MiB with two bits
// a window 40, with four 11; 1 MiB with four 57, with five 24; 512 KiB
// with five 250. With 1,000 secrets (52,000 windows), five bits: 512 KiB
// 0.5, 256 KiB 1.8, 128 KiB 10.
const (
	longBits     = 32
	minLongBits  = 8
	maxLongBits  = 1 << 23 // 1 MiB
	shortBits    = 128
	maxShortBits = 1 << 18 // 32 KiB
)

// init sizes the filter for n windows.
func (f *filter) init(n int, bloom bool) {
	n = max(n, 1)
	f.bloom = bloom
	lg := min(bits.Len(uint(n*longBits-1)), max(bits.Len(maxLongBits-1), bits.Len(uint(n*minLongBits-1))))
	lg = min(max(12, lg), 32)
	if !bloom {
		lg = min(max(12, bits.Len(uint(n*shortBits-1))), bits.Len(maxShortBits-1))
	}
	f.bits = make([]uint64, 1<<(lg-6))
	f.mask = uint64(len(f.bits) - 1)
	f.sshift = uint8(64 - (lg - 5))
	clg := min(max(4, bits.Len(uint(n+n/3))), 32) // at most 3/4 full
	f.cshift = uint8(64 - clg)
	f.cands = make([]cand, 1<<clg)
	for i := range f.cands {
		f.cands[i].ref = noRef
	}
}

// bloomMask returns the five bits of a long window's word.
func bloomMask(h uint64) uint64 {
	return 1<<(h>>58) | 1<<(h>>52&63) | 1<<(h>>46&63) | 1<<(h>>40&63) | 1<<(h>>34&63)
}

// shortMask returns the two bits of a short window's 32-bit word: bits of
// h below the word index, which takes at most 13 (maxShortBits).
func shortMask(h uint64) uint32 { return 1<<(h>>46&31) | 1<<(h>>41&31) }

// shortWord returns the short filter's 32-bit word i.
func (f *filter) shortWord(i uint64) uint32 { return uint32(f.bits[i>>1] >> (i & 1 << 5)) }

// has reports whether the first level has hash h.
func (f *filter) has(h uint64) bool {
	if !f.bloom {
		m := shortMask(h)
		return f.shortWord(h>>f.sshift)&m == m
	}
	m := bloomMask(h)
	return f.bits[fold(h)&f.mask]&m == m
}

// fill registers the windows enum produces, hashed by hash.
func (f *filter) fill(enum func(add func(w uint64, ref, off uint32)), hash func(uint64) uint64, fp func(uint64) uint32) {
	mask := uint64(len(f.cands) - 1)
	enum(func(w uint64, ref, off uint32) {
		h := hash(w)
		if f.bloom {
			f.bits[fold(h)&f.mask] |= bloomMask(h)
		} else {
			i := h >> f.sshift
			f.bits[i>>1] |= uint64(shortMask(h)) << (i & 1 << 5)
		}
		i := h >> f.cshift
		for f.cands[i].ref != noRef {
			i = (i + 1) & mask
		}
		f.cands[i] = cand{ref: ref, fp: fp(w), off: off}
	})
}

// candidates yields each candidate whose window has hash h and fingerprint
// fp (and, rarely, another window's with the same fingerprint).
func (f *filter) candidates(h uint64, fp uint32) iter.Seq[cand] {
	return func(yield func(cand) bool) {
		mask := uint64(len(f.cands) - 1)
		for i := h >> f.cshift; f.cands[i].ref != noRef; i = (i + 1) & mask {
			if c := f.cands[i]; c.fp == fp && !yield(c) {
				return
			}
		}
	}
}

// size returns the bytes the matcher's tables take, roughly.
func (m *matcher) size() int {
	n := len(m.long.bits)*8 + len(m.short.bits)*8 + len(m.heads)*16 + len(m.tiny)*4 + len(m.pairs)*8 + len(m.starts.words)*4
	for _, f := range []*filter{&m.long, &m.short, &m.redraw} {
		n += len(f.cands) * 12
	}
	return n + len(m.pats)*40
}
