//go:build amd64 && !purego

package masking

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// filterMatchers are matchers with each short stride: the defaults (the
// detectors' 5-byte shapes give 2), secrets of 7 bytes and more without
// detectors (4), and long secrets only (no short filter).
func filterMatchers(t testing.TB) map[string]*matcher {
	secrets := genSecrets(rand.New(rand.NewPCG(7, 7)), 300)
	var long, medium []string
	for _, s := range secrets {
		if len(s) >= 8 {
			medium = append(medium, s[:min(len(s), 8+len(s)%7)])
		}
		if len(s) >= 20 && !slices.ContainsFunc([]byte(s), func(c byte) bool { return c == '&' || c == '\n' }) {
			long = append(long, s)
		}
	}
	ms := map[string]*matcher{}
	for name, set := range map[string]*Set{
		"defaults":     NewSet(Options{}),
		"no-detectors": NewSet(Options{Detectors: []string{}, MinLength: 7}),
		"long-only":    NewSet(Options{Detectors: []string{}, MinLength: 15}),
		"no-secrets":   NewSet(Options{}),
	} {
		switch name {
		case "defaults":
			set.Add(secrets...)
		case "no-detectors":
			set.Add(medium...)
		case "long-only":
			set.Add(long...)
		}
		ms[name] = set.matcher()
	}
	// The benchmark's secrets fill the short filter to its largest size.
	ms["bench-1000"] = newBenchSet(genSecrets(rand.New(rand.NewPCG(1, 1000)), 1000)).matcher()
	if got, want := 64-int(ms["bench-1000"].short.sshift), bits.Len(maxShortBits-1)-5; got != want {
		t.Fatalf("bench-1000: short filter of 2^%d words, want the largest, 2^%d", got, want)
	}
	strides := map[int]bool{}
	for _, m := range ms {
		strides[m.ss] = true
	}
	if !strides[0] || !strides[2] || !strides[4] {
		t.Fatalf("short strides covered: %v, want 0, 2 and 4", strides)
	}
	return ms
}

// checkFilterClasses checks that the AVX-512 filter, classifying the
// blocks of the bytes it is given from offset 0 to 7 before its own, gives
// the hits want and the classes classifyGo does, and writes no word more.
func checkFilterClasses(t testing.TB, name string, m *matcher, q []byte, want []uint64) {
	const guard = 0x5A5A5A5A5A5A5A5A
	for j := range 8 {
		cq := append(bytes.Repeat([]byte{':'}, j), q...) // q at cq[j:]
		var exp, got byteClasses
		exp.size(len(cq))
		exp.classifyGo(cq, 0)
		got.size(len(cq))
		for i := range got.buf {
			got.buf[i] = guard
		}
		hits := make([]uint64, len(want))
		m.filterGroupsClasses(cq[j:], hits, cq, &got)
		if !slices.Equal(hits, want) {
			t.Fatalf("%s, %d bytes, offset %d: hits differ with the classes", name, len(q), j)
		}
		n := len(want)
		for k, bm := range [][2][]uint64{{got.h, exp.h}, {got.jc, exp.jc}, {got.lfs, exp.lfs}, {got.crs, exp.crs}} {
			if !slices.Equal(bm[0][:n], bm[1][:n]) {
				t.Fatalf("%s, %d bytes, offset %d: class %d differs", name, len(q), j, k)
			}
			if n < len(bm[0]) && bm[0][n] != guard {
				t.Fatalf("%s, %d bytes, offset %d: class %d written past the groups", name, len(q), j, k)
			}
		}
	}
}

// checkFilterGroups compares the vectorised filter with the Go one on q,
// and returns how many windows hit. The Go one tests one of the two bits of
// a short window (a superset: shortWindow tests both), the vectorised one
// both: their short bits must differ only where the full test fails.
func checkFilterGroups(t testing.TB, name string, m *matcher, q []byte) int {
	groups := (len(q) - 8) / 64
	if groups <= 0 || m.ss == 1 {
		return 0
	}
	q = q[:64*groups+8]
	// A copy of q on its own, so that a read past it may fault, and
	// results with a guard word after them.
	q = append([]byte(nil), q...)
	const guard = 0x5A5A5A5A5A5A5A5A
	goBits := make([]uint64, groups)
	got := make([]uint64, groups+1)
	for i := range got {
		got[i] = guard // must be overwritten, but for the last
	}
	m.filterGroupsGo(q, goBits)
	m.filterGroupsVector(filterGroupsAVX2, q, got[:groups])
	if got[groups] != guard {
		t.Fatalf("%s: AVX2 wrote past its output", name)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		got512 := append(make([]uint64, groups), guard)
		m.filterGroupsVector(filterGroups512, q, got512[:groups])
		if got512[groups] != guard || !slices.Equal(got512[:groups], got[:groups]) {
			t.Fatalf("%s (ss %d), %d bytes: AVX-512 and AVX2 differ", name, m.ss, len(q))
		}
		if cpu.X86.HasAVX512BW {
			checkFilterClasses(t, name, m, q, got[:groups])
		}
	}
	hits := 0
	for g := range goBits {
		if got[g]&^goBits[g] != 0 {
			t.Fatalf("%s (ss %d), %d bytes: group %d: AVX2 %040b not within Go %040b", name, m.ss, len(q), g, got[g], goBits[g])
		}
		for diff := goBits[g] ^ got[g]; diff != 0; diff &= diff - 1 {
			bit := bits.TrailingZeros64(diff)
			o := 64*g + windowAt(bit)
			if bit >= 32 || m.short.has(shortHash(binary.LittleEndian.Uint32(q[o:]))) {
				t.Fatalf("%s (ss %d), %d bytes: group %d: window bit %d: AVX2 missed a hit", name, m.ss, len(q), g, bit)
			}
		}
		for x := got[g]; x != 0; x &= x - 1 {
			bit := bits.TrailingZeros64(x)
			o := 64*g + windowAt(bit)
			if bit < 32 && !m.short.has(shortHash(binary.LittleEndian.Uint32(q[o:]))) ||
				bit >= 32 && !m.long.has(longHash(binary.LittleEndian.Uint64(q[o:]))) {
				t.Fatalf("%s (ss %d), %d bytes: group %d: window bit %d: AVX2 hit that the filter has not", name, m.ss, len(q), g, bit)
			}
		}
		hits += bits.OnesCount64(got[g])
	}
	return hits
}

func TestFilterGroupsAVX2MatchesGo(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	ms := filterMatchers(t)
	_, log := corpus.get(1000, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for name, m := range ms {
		hits := 0
		for range 300 {
			off := r.IntN(len(log) - 70000)
			hits += checkFilterGroups(t, name, m, log[off:off+8+r.IntN(66000)])
		}
		if name != "no-secrets" && hits == 0 {
			t.Fatalf("%s: the log never hit the filter: the comparison proves nothing", name)
		}
	}
}

func FuzzFilterGroups(f *testing.F) {
	if !cpu.X86.HasAVX2 {
		f.Skip("no AVX2")
	}
	ms := filterMatchers(f)
	f.Add([]byte("https://user:pass@example.com/ ghp_0123456789abcdef AKIA0123456789ABCDEF"))
	f.Fuzz(func(t *testing.T, q []byte) {
		for name, m := range ms {
			checkFilterGroups(t, name, m, q)
		}
	})
}

// BenchmarkFilterGroups is the filter kernel alone on the benchmark log,
// for the matchers of filterMatchers.
func BenchmarkFilterGroups(b *testing.B) {
	ms := filterMatchers(b)
	_, log := corpus.get(1000, 1<<20)
	q := log[:64<<10+8]
	out := make([]uint64, 1024)
	for _, name := range []string{"defaults", "no-detectors", "long-only", "bench-1000"} {
		m := ms[name]
		b.Run(name+"/avx2", func(b *testing.B) {
			b.SetBytes(64 << 10)
			for range b.N {
				m.filterGroupsVector(filterGroupsAVX2, q, out)
			}
		})
		if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
			b.Run(name+"/avx512", func(b *testing.B) {
				b.SetBytes(64 << 10)
				for range b.N {
					m.filterGroupsVector(filterGroups512, q, out)
				}
			})
		}
		b.Run(name+"/go", func(b *testing.B) {
			b.SetBytes(64 << 10)
			for range b.N {
				m.filterGroupsGo(q, out)
			}
		})
	}
}
