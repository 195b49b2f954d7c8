package masking

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestIndexPairMatchesBytesIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, alphabet := range []string{":a\n", ":/abcdefghijklmnopqrstuvwxyz0123456789"} {
		for n := range 300 {
			for range 30 {
				b := make([]byte, n)
				for i := range b {
					b[i] = alphabet[r.IntN(len(alphabet))]
				}
				for _, pair := range [][2]byte{{':', ':'}, {':', '/'}, {'/', ':'}} {
					if got, want := indexPair(b, pair[0], pair[1]), bytes.Index(b, pair[:]); got != want {
						t.Fatalf("indexPair(%q, %q) = %d, want %d", b, pair, got, want)
					}
				}
			}
		}
	}
	// The pair at every offset of a long run without it, the tail included.
	for n := 2; n < 200; n++ {
		for at := 0; at+2 <= n; at++ {
			b := bytes.Repeat([]byte{'x'}, n)
			b[at], b[at+1] = ':', '/'
			if got := indexPair(b, ':', '/'); got != at {
				t.Fatalf("%d bytes, pair at %d: indexPair = %d", n, at, got)
			}
			if got := indexPair(b, '/', ':'); got != -1 {
				t.Fatalf("%d bytes: reversed pair found at %d", n, got)
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
			b[i] = "\x1ba\x00b"[r.IntN(4)]
		}
		out = append(out[:0], 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF) // stale bits must go
		words := (n + 63) / 64
		guard := out[:words+1]
		out = byteBitmap(out[:0:words], b, esc, nul)
		if guard[words] != 0xFFFF {
			t.Fatalf("%d bytes: wrote past the bitmap", n)
		}
		if len(out) != (n+63)/64 {
			t.Fatalf("%d bytes: %d words", n, len(out))
		}
		for i := range 64 * len(out) {
			want := i < n && (b[i] == esc || b[i] == nul)
			if got := out[i/64]>>(i%64)&1 == 1; got != want {
				t.Fatalf("%d bytes: bit %d is %v, want %v", n, i, got, want)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var c byteClasses
	isDigit := func(b []byte, i int) bool {
		return i < len(b) && strings.IndexByte("0123456789abcdefABCDEF", b[i]) >= 0
	}
	check := func(b []byte) {
		t.Helper()
		words := (len(b) + 63) / 64
		guard := make([]uint64, words+1)
		for i := range guard {
			guard[i] = 0xFFFF // stale bits must go
		}
		c.joins = guard[:0:words]
		if got, want := c.classify(b), bytes.IndexByte(b, 0) >= 0; got != want {
			t.Fatalf("%d bytes: NUL %v, want %v", len(b), got, want)
		}
		if guard[words] != 0xFFFF {
			t.Fatalf("%d bytes: wrote past the bitmap", len(b))
		}
		for i := range 64 * len(c.joins) {
			in := i < len(b)
			join := in && strings.IndexByte(": x%", b[i]) >= 0 && isDigit(b, i+1) && isDigit(b, i+2)
			if got := c.joins[i/64]>>(i%64)&1 == 1; got != join {
				t.Fatalf("%d bytes: join bit %d is %v, want %v (%q)", len(b), i, got, join, b[i:min(len(b), i+3)])
			}
			if got, want := c.lfs[i/64]>>(i%64)&1 == 1, in && b[i] == '\n'; got != want {
				t.Fatalf("%d bytes: line feed bit %d is %v, want %v", len(b), i, got, want)
			}
		}
	}
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = byte(r.IntN(256)) // every byte value
			} else {
				b[i] = "0123456789abcdefABCDEF: \\x%gG/;@`X|\x00\xff\n"[r.IntN(37)]
			}
		}
		check(b)
	}
	all := make([]byte, 3*256) // every byte value before two digits, in full blocks
	for i := range 256 {
		all[3*i], all[3*i+1], all[3*i+2] = byte(i), 'a', '0'
	}
	check(all)
}

// lineEnds finds the line feeds 65, 66, 77 and 78 bytes after another,
// wherever the two fall in the bitmap's words.
func TestLineEnds(t *testing.T) {
	for _, d := range []int{64, 65, 66, 76, 77, 78, 79} {
		for first := 0; first < 200; first++ {
			lfs := make([]uint64, 5)
			lfs[first/64] |= 1 << (first % 64)
			second := first + d
			lfs[second/64] |= 1 << (second % 64)
			ends := lineEnds(nil, lfs)
			want := d == 65 || d == 66 || d == 77 || d == 78
			if got := ends[second/64]>>(second%64)&1 == 1; got != want {
				t.Fatalf("line feeds at %d and %d: end %v, want %v", first, second, got, want)
			}
			if ends[first/64]>>(first%64)&1 == 1 {
				t.Fatalf("line feeds at %d and %d: the first is an end", first, second)
			}
		}
	}
}
