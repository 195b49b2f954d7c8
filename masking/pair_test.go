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
