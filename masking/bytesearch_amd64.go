//go:build amd64 && !purego

package masking

import (
	"bytes"

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

// classify sets the bitmaps of c for b, and reports whether b has a NUL
// byte.
func (c *byteClasses) classify(b []byte) bool {
	c.size(len(b))
	full, nul := len(b)/64, false
	switch {
	case cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VBMI2 && len(b) > 0:
		if full > 0 {
			nul = classesAVX512(&b[0], full, &c.h[0], &c.jc[0], &c.lfs[0], &c.crs[0])
		}
		nul = c.classifyGo(b, full) || nul
		clear(c.runsIn)
		clear(c.endsIn)
		clear(c.crsIn)
		marksAVX512(len(c.h)/8, &c.h[0], &c.jc[0], &c.lfs[0], &c.crs[0], &c.runs[0], &c.ends[0], &c.runsIn[0], &c.endsIn[0], &c.crsIn[0])
		return nul
	case cpu.X86.HasAVX2 && len(b) > 0:
		if full > 0 {
			nul = classesAVX2(&b[0], full, &c.h[0], &c.jc[0], &c.lfs[0], &c.crs[0])
		}
		nul = c.classifyGo(b, full) || nul
		clear(c.runsIn)
		clear(c.endsIn)
		clear(c.crsIn)
		marksAVX2(len(c.h)/8, &c.h[0], &c.jc[0], &c.lfs[0], &c.crs[0], &c.runs[0], &c.ends[0], &c.runsIn[0], &c.endsIn[0], &c.crsIn[0])
		return nul
	}
	nul = c.classifyGo(b, full) || nul
	c.marksGo()
	return nul
}

// classesAVX2 sets h[w], jc[w], lfs[w] and crs[w] for each of the first words
// 64-byte blocks at p (see byteClasses), and reports whether a byte is
// NUL. It needs AVX2.
//
//go:noescape
func classesAVX2(p *byte, words int, h, jc, lfs, crs *uint64) (nul bool)

// classesAVX512 is classesAVX2 with AVX-512 (BW).
//
//go:noescape
func classesAVX512(p *byte, words int, h, jc, lfs, crs *uint64) (nul bool)

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
