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

// byteBitmapGo is byteBitmap on a sized bitmap, one IndexByte per c.
func byteBitmapGo(out []uint64, b []byte, c byte) []uint64 {
	clear(out)
	for i := 0; ; i++ {
		k := bytes.IndexByte(b[i:], c)
		if k < 0 {
			return out
		}
		i += k
		out[i/64] |= 1 << (i % 64)
	}
}
