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

// indexPairAVX2 returns the index of the first pair (low byte first)
// that starts in the first 32*blocks bytes at p, which has 32*blocks+1
// bytes, or -1. It needs AVX2.
//
//go:noescape
func indexPairAVX2(p *byte, blocks int, pair uint16) int
