package masking

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// The lexer records as raw starts exactly the bytes of each CSI sequence
// whose pair with the next byte is in the pairs bitmap and whose four
// bytes are in the starts filter (or that have fewer than four after
// them), whatever the two hold.
func TestLexPairStarts(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	seqs := []string{"[0m", "[32m", "[1;34m", "[K", "[38;5;208m", "[2J", "[12;40H", "[1m", "[0;1;2;3;4;5m"}
	var l lexer
	l.rec = true
	for round := range 6 {
		pairs := make([]uint64, 1<<16/64)
		for range 2000 {
			k := r.IntN(1 << 16)
			pairs[k/64] |= 1 << (k % 64)
		}
		in := func(a, b byte) bool { k := int(a)<<8 | int(b); return pairs[k/64]>>(k%64)&1 == 1 }
		may := startsFilter{words: make([]uint32, 1<<8), shift: 64 - 8}
		var p []byte
		var want []int64
		for range 300 {
			for range 1 + r.IntN(6) {
				p = append(p, "0123456789;mK[abcxyz "[r.IntN(21)])
			}
			s := seqs[r.IntN(len(seqs))]
			p = append(p, esc)
			p = append(p, s...)
		}
		p = append(p, 'z')
		for x := 1; x+4 <= len(p); x++ { // the four bytes from some sequence bytes
			if p[x-1] != esc && p[x] != esc && r.IntN(3) == 0 {
				may.add(binary.LittleEndian.Uint32(p[x:]))
			}
		}
		for x := 1; x < len(p); x++ {
			if p[x] == '[' && p[x-1] == esc {
				for y := x; ; y++ {
					if in(p[y], p[y+1]) && (y+4 > len(p) || may.may(binary.LittleEndian.Uint32(p[y:]))) {
						want = append(want, int64(y))
					}
					if p[y] >= 0x40 && p[y] != '[' {
						break
					}
				}
			}
		}
		if len(want) == 0 {
			t.Fatalf("round %d: no starts to find", round)
		}
		l.pairs, l.may, l.starts = pairs, &may, l.starts[:0]
		l.lex(nil, nil, p, 0, 0, 0)
		var got []int64
		for _, s := range l.starts {
			got = append(got, s.raw)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: starts %v, want %v", round, got, want)
		}
	}
}
