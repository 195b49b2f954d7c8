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

// byteClasses are bitmaps of a write's bytes that the views look at (bit
// i of word i/64 for byte i; those after the write's end clear): joins has
// the bytes ':', ' ', 'x' and '%' that two hex digits follow (where a hex
// unit joins a segment), lfs the line feeds.
type byteClasses struct {
	joins, lfs []uint64
}

func (c *byteClasses) size(n int) {
	c.joins, c.lfs = sizeBitmap(c.joins, n), sizeBitmap(c.lfs, n)
}

// classifyGo sets the words of the bitmaps from word w on, a byte at a
// time, and reports whether those bytes have a NUL.
func (c *byteClasses) classifyGo(b []byte, w int) bool {
	for k := w; k < len(c.joins); k++ {
		c.joins[k], c.lfs[k] = 0, 0
	}
	nul := false
	for i := 64 * w; i < len(b); i++ {
		x, bit := b[i], uint64(1)<<(i%64)
		switch x {
		case ':', ' ', 'x', '%':
			if i+2 < len(b) && hexValue[b[i+1]] != 0xff && hexValue[b[i+2]] != 0xff {
				c.joins[i/64] |= bit
			}
		case '\n':
			c.lfs[i/64] |= bit
		case 0:
			nul = true
		}
	}
	return nul
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
