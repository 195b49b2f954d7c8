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

// TestClassify checks every bitmap of byteClasses against its definition,
// on the processor's path and on the Go one, for inputs of every length
// up to several vector batches, reusing one byteClasses so stale bits
// must go.
func TestClassify(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var fast, slow byteClasses
	check := func(b []byte) {
		t.Helper()
		in := func(i int) bool { return i >= 0 && i < len(b) }
		digit := func(i int) bool { return in(i) && strings.IndexByte("0123456789abcdefABCDEF", b[i]) >= 0 }
		jc := func(i int) bool { return in(i) && strings.IndexByte(": x%", b[i]) >= 0 }
		lf := func(i int) bool { return in(i) && b[i] == '\n' }
		cr := func(i int) bool { return in(i) && b[i] == '\r' }
		join := func(i int) bool { return digit(i) && digit(i-1) && jc(i-2) }
		run := func(i int) bool {
			for d := 3; d <= 5; d++ {
				for e := 3; e <= 5; e++ {
					if join(i) && join(i-d) && join(i-d-e) {
						return true
					}
				}
			}
			return false
		}
		end := func(i int) bool {
			for _, d := range []int{65, 66, 77, 78} {
				if lf(i) && lf(i-d) {
					return true
				}
			}
			return false
		}
		fast.size(len(b))
		fast.classifyFrom(b, 0)
		slow.size(len(b))
		slow.classifyGo(b, 0)
		slow.marksGo()
		for _, c := range []*byteClasses{&fast, &slow} {
			if len(c.h) < (len(b)+63)/64 || len(c.h)%8 != 0 {
				t.Fatalf("%d bytes: %d words", len(b), len(c.h))
			}
			for w := range c.h {
				if c.runsIn[w/64]>>(w%64)&1 != min(c.runs[w], 1) || c.endsIn[w/64]>>(w%64)&1 != min(c.ends[w], 1) ||
					c.crsIn[w/64]>>(w%64)&1 != min(c.crs[w], 1) {
					t.Fatalf("%d bytes: the summary of word %d is wrong", len(b), w)
				}
			}
			for i := range 64 * len(c.h) {
				for _, bm := range []struct {
					name string
					bits []uint64
					want bool
				}{{"digit", c.h, digit(i)}, {"join byte", c.jc, jc(i)}, {"line feed", c.lfs, lf(i)}, {"carriage return", c.crs, cr(i)}, {"run", c.runs, run(i)}, {"end", c.ends, end(i)}} {
					if got := bm.bits[i/64]>>(i%64)&1 == 1; got != bm.want {
						t.Fatalf("%d bytes: %s bit %d is %v, want %v (%q)", len(b), bm.name, i, got, bm.want, b[max(0, min(len(b), i-12)):min(len(b), i+1)])
					}
				}
			}
		}
	}
	const alphabet = "0123456789abcdefABCDEF: \\x%gG/;@`X|\x00\xff\n\r="
	for n := range 1100 {
		b := make([]byte, n)
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = byte(r.IntN(256)) // every byte value
			} else {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		check(b)
	}
	for range 50 { // hex units with joins at every distance, lines of every width
		var b []byte
		for len(b) < 1100 {
			if r.IntN(4) == 0 {
				b = append(b, bytes.Repeat([]byte{'A'}, 60+r.IntN(20))...)
				b = append(b, "\n\r\n"[r.IntN(2):]...)
				continue
			}
			b = append(b, ": x%"[r.IntN(4)])
			b = append(b, "0123456789abcdef-+"[r.IntN(18):][:1]...)
			b = append(b, "0123456789abcdef"[r.IntN(16)])
			b = append(b, "  0Z"[:r.IntN(3)]...)
		}
		check(b)
	}
	all := make([]byte, 3*256) // every byte value before two digits, in full blocks
	for i := range 256 {
		all[3*i], all[3*i+1], all[3*i+2] = byte(i), 'a', '0'
	}
	check(all)
	// Two line feeds at each distance, wherever they fall in the words and
	// the vector batches.
	for _, d := range []int{64, 65, 66, 76, 77, 78, 79} {
		for first := 0; first < 600; first++ {
			b := bytes.Repeat([]byte{'A'}, first+d+5)
			b[first], b[first+d] = '\n', '\n'
			check(b)
		}
	}
}

// indexEscNul finds the first ESC or NUL wherever it is, and -1 without.
func TestIndexEscNul(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab\n[m9\xff"[r.IntN(7)]
		}
		want := -1
		if n > 0 && r.IntN(4) > 0 {
			want = r.IntN(n)
			b[want] = "\x1b\x00"[r.IntN(2)]
			if r.IntN(2) == 0 && want+1 < n { // another after it
				b[want+1+r.IntN(n-want-1)] = "\x1b\x00"[r.IntN(2)]
			}
		}
		if got := indexEscNul(b); got != want {
			t.Fatalf("%d bytes: %d, want %d", n, got, want)
		}
	}
}

// compressBytes keeps the bytes whose bit is clear, in order, after what
// dst holds, for every length and density of hidden bytes.
func TestCompressBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for n := range 700 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
		hide := make([]uint64, (n+63)/64+1)
		density := r.IntN(5)
		for i := range n {
			if r.IntN(4) < density {
				hide[i/64] |= 1 << (i % 64)
			}
		}
		prefix := []byte("held")[:r.IntN(5)]
		want := compressGo(append([]byte(nil), prefix...), p, hide)
		got := compressBytes(append([]byte(nil), prefix...), p, hide)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes, density %d: %q, want %q", n, density, got, want)
		}
	}
}
