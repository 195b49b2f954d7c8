//go:build !amd64 || purego

package masking

import "bytes"

// indexPair returns the index of the first c0 followed by c1 in b, or -1.
func indexPair(b []byte, c0, c1 byte) int { return bytes.Index(b, []byte{c0, c1}) }

// canCompress reports whether compressBytes is faster than a copy of each
// visible run: not without a vector unit.
func canCompress() bool { return false }

// compressBytes appends to dst the bytes of p whose bit in hide is clear.
func compressBytes(dst, p []byte, hide []uint64) []byte { return compressGo(dst, p, hide) }

// indexEscNul returns the index of the first ESC or NUL byte of b, or -1.
func indexEscNul(b []byte) int { return indexEscNulGo(b) }

// byteBitmap sets bit i of out[i/64], for each byte of b, if it is c or d,
// and returns out, grown to hold len(b) bits (those after len(b) clear).
func byteBitmap(out []uint64, b []byte, c, d byte) []uint64 {
	return byteBitmapGo(sizeBitmap(out, len(b)), b, c, d)
}

// classesVector classifies none of b's blocks: there is no vector unit.
func (c *byteClasses) classesVector(b []byte, w int) int { return w }

// marks sets runs, ends and the summaries from h, jc, lfs and crs.
func (c *byteClasses) marks() { c.marksGo() }
