//go:build amd64 && !purego

package masking

import (
	"bytes"
	"slices"

	"golang.org/x/sys/cpu"
)

// indexPair returns the index of the first c0 followed by c1 in b, or -1.
// bytes.Index does the same, but for a first byte as common as ':' in
// build logs it stops at each one; this compares 32 positions at a time.
func indexPair(b []byte, c0, c1 byte) int {
	if !cpu.X86.HasAVX2 || len(b) < 33 {
		return bytes.Index(b, []byte{c0, c1})
	}
	blocks := (len(b) - 1) / 32
	if i := indexPairAVX2(&b[0], blocks, uint16(c0)|uint16(c1)<<8); i >= 0 {
		return i
	}
	// The pairs that start in the last 1 to 32 bytes.
	if i := bytes.Index(b[32*blocks:], []byte{c0, c1}); i >= 0 {
		return 32*blocks + i
	}
	return -1
}

// canCompress reports whether compressBytes has a vector kernel, which
// beats a copy of each visible run when runs are short.
func canCompress() bool { return cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VBMI2 }

// compressBytes appends to dst the bytes of p whose bit in hide is clear.
func compressBytes(dst, p []byte, hide []uint64) []byte {
	if !canCompress() {
		return compressGo(dst, p, hide)
	}
	n := len(dst)
	dst = slices.Grow(dst, len(p)+64) // the kernel stores 64 bytes at a time
	all := dst[:cap(dst)]
	blocks := len(p) / 64
	if blocks > 0 {
		n += compressAVX512(&all[n], &p[0], blocks, &hide[0])
	}
	for i := 64 * blocks; i < len(p); i++ {
		all[n] = p[i]
		n += int(^hide[i/64] >> (i % 64) & 1)
	}
	return all[:n]
}

// compressAVX512 stores at dst the bytes of the first blocks 64-byte
// blocks at p whose bit in hide is clear, in order, and returns how many;
// it writes up to 63 bytes more. It needs AVX-512 (BW and VBMI2).
//
//go:noescape
func compressAVX512(dst, p *byte, blocks int, hide *uint64) int

// indexEscNul returns the index of the first ESC or NUL byte of b, or -1.
func indexEscNul(b []byte) int {
	if !cpu.X86.HasAVX2 || len(b) < 64 {
		return indexEscNulGo(b)
	}
	blocks := len(b) / 64
	if i := indexEscNulAVX2(&b[0], blocks); i >= 0 {
		return i
	}
	if i := indexEscNulGo(b[64*blocks:]); i >= 0 {
		return 64*blocks + i
	}
	return -1
}

// byteBitmap sets bit i of out[i/64], for each byte of b, if it is c or d,
// and returns out, grown to hold len(b) bits (those after len(b) clear).
func byteBitmap(out []uint64, b []byte, c, d byte) []uint64 {
	out = sizeBitmap(out, len(b))
	if !cpu.X86.HasAVX2 {
		return byteBitmapGo(out, b, c, d)
	}
	full := len(b) / 64
	if full > 0 {
		byteBitmapAVX2(&b[0], full, &out[0], c, d)
	}
	if rest := b[64*full:]; len(rest) > 0 {
		out[full] = 0
		for i, x := range rest {
			if x == c || x == d {
				out[full] |= 1 << i
			}
		}
	}
	return out
}

// classesVector classifies the 64-byte blocks of b (whole blocks) into
// the words of c from w on, as classifyGo does, and returns the word after
// them; without a vector unit it classifies none and returns w.
func (c *byteClasses) classesVector(b []byte, w int) int {
	n := len(b) / 64
	if n == 0 || !cpu.X86.HasAVX2 {
		return w
	}
	// With AVX-512 the filter classifies most blocks as it goes
	// (filterGroups); these are the few it did not.
	classesAVX2(&b[0], n, &c.h[w], &c.jc[w], &c.lfs[w], &c.crs[w])
	return w + n
}

// marks sets runs, ends and the summaries from h, jc, lfs and crs.
func (c *byteClasses) marks() {
	kernel := marksAVX2
	switch {
	case len(c.h) == 0:
		return
	case cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VBMI2:
		kernel = marksAVX512
	case !cpu.X86.HasAVX2:
		c.marksGo()
		return
	}
	clear(c.runsIn)
	clear(c.endsIn)
	clear(c.crsIn)
	kernel(len(c.h)/8, &c.h[0], &c.jc[0], &c.lfs[0], &c.crs[0], &c.runs[0], &c.ends[0], &c.runsIn[0], &c.endsIn[0], &c.crsIn[0])
}

// classesAVX2 sets h[w], jc[w], lfs[w] and crs[w] for each of the first
// words 64-byte blocks at p (see byteClasses). It needs AVX2.
//
//go:noescape
func classesAVX2(p *byte, words int, h, jc, lfs, crs *uint64)

// marksAVX2 is marksAVX512 with AVX2.
//
//go:noescape
func marksAVX2(batches int, h, jc, lfs, crs, runs, ends, runsIn, endsIn, crsIn *uint64)

// marksAVX512 is byteClasses.marksGo for bitmaps of 8*batches words, eight
// words at a time, but for the summaries, which it expects clear. It needs
// AVX-512 (F, BW and VBMI2).
//
//go:noescape
func marksAVX512(batches int, h, jc, lfs, crs, runs, ends, runsIn, endsIn, crsIn *uint64)

// indexEscNulAVX2 returns the index of the first ESC or NUL in the first
// blocks 64-byte blocks at p, or -1. It needs AVX2.
//
//go:noescape
func indexEscNulAVX2(p *byte, blocks int) int

// byteBitmapAVX2 sets out[w] for each of the first words 64-byte blocks at
// p: bit i if p[64w+i] is c or d. It needs AVX2.
//
//go:noescape
func byteBitmapAVX2(p *byte, words int, out *uint64, c, d byte)

// indexPairAVX2 returns the index of the first pair (low byte first)
// that starts in the first 32*blocks bytes at p, which has 32*blocks+1
// bytes, or -1. It needs AVX2.
//
//go:noescape
func indexPairAVX2(p *byte, blocks int, pair uint16) int
