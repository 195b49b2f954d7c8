//go:build amd64 && !purego

package masking

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// The kernels classify doesn't pick on this processor give what the Go
// code does, and each class kernel stops where it should.
func TestClassKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var want, got byteClasses
	const alphabet = ": x%\n\r0a9F\\zZ="
	type kernel func(p *byte, words int, h, jc, lfs, crs *uint64, stop bool) int
	var kernels []kernel
	if cpu.X86.HasAVX2 {
		kernels = append(kernels, classesAVX2)
	}
	if cpu.X86.HasAVX512BW {
		kernels = append(kernels, classesAVX512)
	}
	for n := 64; n < 2000; n += 1 + r.IntN(40) {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if r.IntN(2) == 0 {
			b[r.IntN(n)] = "\x1b\x00"[r.IntN(2)]
		}
		want.size(n)
		want.classifyGo(b, 0, false)
		want.marksGo()
		full := n / 64
		stopAt := full
		if i := bytes.IndexAny(b[:64*full], "\x1b\x00"); i >= 0 {
			stopAt = i / 64
		}
		for k, classes := range kernels {
			for _, stop := range []bool{false, true} {
				got.size(n)
				clear(got.buf)
				wantDone := full
				if stop {
					wantDone = stopAt
				}
				if done := classes(&b[0], full, &got.h[0], &got.jc[0], &got.lfs[0], &got.crs[0], stop); done != wantDone {
					t.Fatalf("%d bytes: kernel %d (stop %v) did %d blocks, want %d", n, k, stop, done, wantDone)
				}
				for name, bm := range map[string][2][]uint64{"h": {got.h, want.h}, "jc": {got.jc, want.jc}, "lfs": {got.lfs, want.lfs}, "crs": {got.crs, want.crs}} {
					if !slices.Equal(bm[0][:wantDone], bm[1][:wantDone]) {
						t.Fatalf("%d bytes: kernel %d (stop %v): %s differs", n, k, stop, name)
					}
				}
			}
		}
		if cpu.X86.HasAVX2 {
			got.size(n)
			copy(got.buf, want.buf[:4*len(want.h)])
			marksAVX2(len(got.h)/8, &got.h[0], &got.jc[0], &got.lfs[0], &got.crs[0], &got.runs[0], &got.ends[0], &got.runsIn[0], &got.endsIn[0], &got.crsIn[0])
			if !slices.Equal(got.buf, want.buf) {
				t.Fatalf("%d bytes: AVX2 marks differ", n)
			}
		}
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VBMI2 {
			got.size(n)
			copy(got.buf, want.buf[:4*len(want.h)])
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
