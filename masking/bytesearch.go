package masking

import (
	"bytes"
	"math/bits"
)

// sizeBitmap returns out resized to hold n bits, reusing its array.
func sizeBitmap(out []uint64, n int) []uint64 {
	words := (n + 63) / 64
	if cap(out) < words {
		return make([]uint64, words)
	}
	return out[:words]
}

// indexEscNulGo is indexEscNul without a vector unit.
func indexEscNulGo(b []byte) int {
	i, j := bytes.IndexByte(b, esc), bytes.IndexByte(b, nul)
	if i < 0 || j >= 0 && j < i {
		return j
	}
	return i
}

// byteBitmapGo is byteBitmap on a sized bitmap, one IndexByte per c or d.
func byteBitmapGo(out []uint64, b []byte, c, d byte) []uint64 {
	clear(out)
	for _, x := range [2]byte{c, d} {
		for i := 0; ; i++ {
			k := bytes.IndexByte(b[i:], x)
			if k < 0 {
				break
			}
			i += k
			out[i/64] |= 1 << (i % 64)
		}
	}
	return out
}

// byteClasses are what the views look at in a write's bytes, as bitmaps
// (bit i of word i/64 for byte i; the bits after the write's end clear):
//
//   - h: the hex digits; jc: the bytes that join a hex unit to a segment
//     (':', ' ', 'x', '%'); lfs and crs: the line feeds and carriage
//     returns.
//   - runs: each join (a unit's second digit after a jc byte and its first
//     digit) that is the last of three with distances of 3 to 5 bytes:
//     where a segment may have three joins at equal distances ("de:ad:be"
//     has them at its colons, xxd's groups at their spaces, "\xde\xad\xbe"
//     at its x), and a few places more. Timestamps and prose have few.
//   - ends: the line feeds 65, 66, 77 or 78 bytes after another, which may
//     end a full line of wrapped base64.
//
// runsIn, endsIn and crsIn have bit w set if word w of runs, ends or crs
// has a bit set, so that a search skips the words without. The bitmaps
// are one array, each a multiple of 8 words long (those after the write's
// zero), so that a vector kernel reads whole vectors.
type byteClasses struct {
	buf                         []uint64
	h, jc, lfs, crs, runs, ends []uint64
	runsIn, endsIn, crsIn       []uint64
}

// size makes the bitmaps hold n bits each.
func (c *byteClasses) size(n int) {
	words := (n + 511) / 512 * 8
	sum := (words + 63) / 64
	if cap(c.buf) > 6*maxRetained/64 {
		c.buf = nil // grown by an unusually large write
	}
	c.buf = sizeBitmap(c.buf, 64*(6*words+3*sum))
	b := c.buf
	next := func(n int) []uint64 {
		s := b[:n:n]
		b = b[n:]
		return s
	}
	// In this order, so that a kernel finds h, jc, lfs and crs at 0, 1, 2
	// and 4 strides from h.
	c.h, c.jc, c.lfs, c.runs, c.crs, c.ends = next(words), next(words), next(words), next(words), next(words), next(words)
	c.runsIn, c.endsIn, c.crsIn = next(sum), next(sum), next(sum)
}

// classifyFrom sets the bitmaps of c, sized for b, from b's block w on
// (those before are set).
func (c *byteClasses) classifyFrom(b []byte, w int) {
	w = c.classesVector(b[64*w:len(b)/64*64], w)
	c.classifyGo(b, w)
	c.marks()
}

// classifyGo sets h, jc, lfs and crs from word w on, a byte at a time.
func (c *byteClasses) classifyGo(b []byte, w int) {
	clear(c.h[w:])
	clear(c.jc[w:])
	clear(c.lfs[w:])
	clear(c.crs[w:])
	for i := 64 * w; i < len(b); i++ {
		x, bit := b[i], uint64(1)<<(i%64)
		switch {
		case hexValue[x] != 0xff:
			c.h[i/64] |= bit
		case x == ':' || x == ' ' || x == 'x' || x == '%':
			c.jc[i/64] |= bit
		case x == '\n':
			c.lfs[i/64] |= bit
		case x == '\r':
			c.crs[i/64] |= bit
		}
	}
}

// marksGo sets runs and ends from h, jc and lfs, a word at a time, and
// the summaries. Each bit looks back only, across a word with the
// previous word's bits.
func (c *byteClasses) marksGo() {
	n := len(c.h)
	jc, lfs, crs, runs, ends := c.jc[:n], c.lfs[:n], c.crs[:n], c.runs[:n], c.ends[:n]
	var ph, pjc, pj, pn uint64 // the previous word's
	for w, h := range c.h {
		j := h & (h<<1 | ph>>63) & (jc[w]<<2 | pjc>>62)
		// n: the joins with another 3 to 5 bytes before; runs: those of
		// n with another of n so before.
		n := j & (j<<3 | pj>>61 | j<<4 | pj>>60 | j<<5 | pj>>59)
		runs[w] = n & (n<<3 | pn>>61 | n<<4 | pn>>60 | n<<5 | pn>>59)
		ph, pjc, pj, pn = h, jc[w], j, n
	}
	var pl, pll uint64 // the previous word's line feeds and the one before's
	for w, lf := range lfs {
		ends[w] = lf & (pl<<1 | pll>>63 | pl<<2 | pll>>62 | pl<<13 | pll>>51 | pl<<14 | pll>>50)
		pll, pl = pl, lf
	}
	clear(c.runsIn)
	clear(c.endsIn)
	clear(c.crsIn)
	for w := range runs {
		if runs[w]|ends[w]|crs[w] != 0 {
			bit := uint64(1) << (w % 64)
			c.runsIn[w/64] |= bit * min(runs[w], 1)
			c.endsIn[w/64] |= bit * min(ends[w], 1)
			c.crsIn[w/64] |= bit * min(crs[w], 1)
		}
	}
}

// nextMarked returns the first set bit of bm at or after i, or -1; in
// has bit w set if bm[w] has a bit set.
func nextMarked(bm, in []uint64, i int) int {
	w := i / 64
	if w >= len(bm) {
		return -1
	}
	if x := bm[w] >> (i % 64) << (i % 64); x != 0 {
		return 64*w + bits.TrailingZeros64(x)
	}
	if w = nextBit(in, w+1); w < 0 {
		return -1
	}
	return 64*w + bits.TrailingZeros64(bm[w])
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

// lastBit returns the last set bit of bm, or -1.
func lastBit(bm []uint64) int {
	for w := len(bm) - 1; w >= 0; w-- {
		if bm[w] != 0 {
			return 64*w + 63 - bits.LeadingZeros64(bm[w])
		}
	}
	return -1
}
