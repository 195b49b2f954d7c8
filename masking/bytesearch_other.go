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

// hexBitmap sets bit i of out[i/64], for each byte of b, if it can be in a
// hex run (hexClass), and of digits if it is a hex digit, and returns
// both, grown to hold len(b) bits (those after len(b) clear).
func hexBitmap(out, digits []uint64, b []byte) ([]uint64, []uint64) {
	return hexBitmapGo(sizeBitmap(out, len(b)), sizeBitmap(digits, len(b)), b)
}
