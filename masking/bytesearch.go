package masking

import "bytes"

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

// hexBitmapGo is hexBitmap on sized bitmaps, a table lookup per byte.
func hexBitmapGo(out, digits []uint64, b []byte) ([]uint64, []uint64) {
	clear(out)
	clear(digits)
	for i, c := range b {
		if hexClass[c] {
			out[i/64] |= 1 << (i % 64)
		}
		if hexValue[c] != 0xff {
			digits[i/64] |= 1 << (i % 64)
		}
	}
	return out, digits
}
