//go:build !amd64 || purego

package masking

import "bytes"

// indexPair returns the index of the first c0 followed by c1 in b, or -1.
func indexPair(b []byte, c0, c1 byte) int { return bytes.Index(b, []byte{c0, c1}) }

// byteBitmap sets bit i of out[i/64], for each byte of b, if it is c or d,
// and returns out, grown to hold len(b) bits (those after len(b) clear).
func byteBitmap(out []uint64, b []byte, c, d byte) []uint64 {
	return byteBitmapGo(sizeBitmap(out, len(b)), b, c, d)
}

// classify sets the bitmaps of c for b, and reports whether b has a NUL
// byte.
func (c *byteClasses) classify(b []byte) bool {
	c.size(len(b))
	nul := c.classifyGo(b, 0)
	c.marksGo()
	return nul
}
