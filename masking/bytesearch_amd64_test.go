//go:build amd64 && !purego

package masking

import (
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// The vector kernels, also those this processor does not pick, give what
// the Go code does, and write nothing past their blocks.
func TestClassKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var want, got byteClasses
	const alphabet = ": x%\n\r\x000a9F\\zZ="
	for n := 64; n < 2000; n += 1 + r.IntN(40) {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		want.size(n)
		want.classifyGo(b, 0)
		want.marksGo()
		full := n / 64
		if cpu.X86.HasAVX2 {
			got.size(n)
			for i := range got.buf {
				got.buf[i] = 0x5a5a5a5a5a5a5a5a
			}
			classesAVX2(&b[0], full, &got.h[0], &got.jc[0], &got.lfs[0], &got.crs[0])
			for name, bm := range map[string][2][]uint64{"h": {got.h, want.h}, "jc": {got.jc, want.jc}, "lfs": {got.lfs, want.lfs}, "crs": {got.crs, want.crs}} {
				if !slices.Equal(bm[0][:full], bm[1][:full]) {
					t.Fatalf("%d bytes: AVX2 classes: %s differs", n, name)
				}
				if bm[0][full] != 0x5a5a5a5a5a5a5a5a {
					t.Fatalf("%d bytes: AVX2 classes: %s written past its blocks", n, name)
				}
			}
		}
		if cpu.X86.HasAVX2 {
			got.size(n)
			clear(got.buf)
			for _, bm := range [][2][]uint64{{got.h, want.h}, {got.jc, want.jc}, {got.lfs, want.lfs}, {got.crs, want.crs}} {
				copy(bm[0], bm[1])
			}
			marksAVX2(len(got.h)/8, &got.h[0], &got.jc[0], &got.lfs[0], &got.crs[0], &got.runs[0], &got.ends[0], &got.runsIn[0], &got.endsIn[0], &got.crsIn[0])
			if !slices.Equal(got.buf, want.buf) {
				t.Fatalf("%d bytes: AVX2 marks differ", n)
			}
		}
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VBMI2 {
			got.size(n)
			clear(got.buf)
			for _, bm := range [][2][]uint64{{got.h, want.h}, {got.jc, want.jc}, {got.lfs, want.lfs}, {got.crs, want.crs}} {
				copy(bm[0], bm[1])
			}
			clear(got.runsIn)
			clear(got.endsIn)
			clear(got.crsIn)
			marksAVX512(len(got.h)/8, &got.h[0], &got.jc[0], &got.lfs[0], &got.crs[0], &got.runs[0], &got.ends[0], &got.runsIn[0], &got.endsIn[0], &got.crsIn[0])
			if !slices.Equal(got.buf, want.buf) {
				t.Fatalf("%d bytes: AVX-512 marks differ", n)
			}
		}
	}
}
