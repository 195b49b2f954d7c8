package masking

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestIndexPairMatchesBytesIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 200 {
		for range 50 {
			b := make([]byte, n)
			for i := range b {
				b[i] = ":a\n"[r.IntN(3)]
			}
			if got, want := indexPair(b, ':', ':'), bytes.Index(b, []byte("::")); got != want {
				t.Fatalf("indexPair(%q) = %d, want %d", b, got, want)
			}
		}
	}
}

func FuzzIndexPair(f *testing.F) {
	f.Add([]byte("https://example.com\n::add-mask::x"), byte(':'), byte(':'))
	f.Fuzz(func(t *testing.T, b []byte, c0, c1 byte) {
		if got, want := indexPair(b, c0, c1), bytes.Index(b, []byte{c0, c1}); got != want {
			t.Fatalf("indexPair(%q, %q, %q) = %d, want %d", b, c0, c1, got, want)
		}
	})
}

func TestByteBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var out []uint64
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = "\x1bab"[r.IntN(3)]
		}
		out = append(out[:0], 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF) // stale bits must go
		out = byteBitmap(out, b, esc)
		if len(out) != (n+63)/64 {
			t.Fatalf("%d bytes: %d words", n, len(out))
		}
		for i := range 64 * len(out) {
			want := i < n && b[i] == esc
			if got := out[i/64]>>(i%64)&1 == 1; got != want {
				t.Fatalf("%d bytes: bit %d is %v, want %v", n, i, got, want)
			}
		}
	}
}
