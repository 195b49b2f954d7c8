package masking

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestStreamingMatchesReference compares the Writer with the one-shot
// reference over random inputs, secrets, splits and mid-stream Adds. Small
// alphabets make overlaps, adjacency, repeats and prefixes common.
func TestStreamingMatchesReference(t *testing.T) {
	iters := 4000
	if testing.Short() {
		iters = 400
	}
	r := rand.New(rand.NewPCG(7, 11))
	alphabets := []string{"ab", "abc", "aab", "ab\n", "a \r\n", "abcdefgh"}
	for it := range iters {
		alpha := alphabets[r.IntN(len(alphabets))]
		word := func(n int) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			return string(b)
		}
		secrets := func() []string {
			out := make([]string, r.IntN(4))
			for i := range out {
				out[i] = word(1 + r.IntN(7))
			}
			return out
		}
		input := word(r.IntN(150))
		set := NewSet(Options{Mask: "#", MinLength: 1 + r.IntN(3)})
		set.Add(secrets()...)

		// Write boundaries, some of them with Adds.
		var cuts []int
		for i := 0; i <= len(input); i++ {
			if r.IntN(6) == 0 {
				cuts = append(cuts, i)
			}
		}
		adds := map[int][]string{}
		for _, c := range cuts {
			if r.IntN(4) == 0 {
				adds[c] = secrets()
			}
		}
		cuts = append(cuts, len(input))

		gens := []generation{{0, set.snapshot()}}
		var out bytes.Buffer
		w := set.NewWriter(&out)
		prev := 0
		for _, c := range cuts {
			if s, ok := adds[prev]; ok {
				set.Add(s...)
				if p := set.snapshot(); len(p) != len(gens[len(gens)-1].patterns) {
					gens = append(gens, generation{prev, p})
				}
			}
			if _, err := w.Write([]byte(input[prev:c])); err != nil {
				t.Fatal(err)
			}
			checkHoldback(t, set, w, input[:c])
			prev = c
		}
		if s, ok := adds[len(input)]; ok { // after the last write
			set.Add(s...)
			if p := set.snapshot(); len(p) != len(gens[len(gens)-1].patterns) {
				gens = append(gens, generation{len(input), p})
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := referenceGenerations(input, gens, "#"); out.String() != want {
			t.Fatalf("iteration %d: input %q, generations %+v, writes ending at %v\n got %q\nwant %q",
				it, input, gens, cuts, out.String(), want)
		}
	}
}

// FuzzChunking checks, for arbitrary secrets, input and write sizes, that
// the output does not depend on the chunking, that no registered pattern
// survives in it, and that the bytes outside matches come out unchanged and
// in order. Secrets are separated by NUL; those after a 0x01 byte are added
// in the middle of the stream.
func FuzzChunking(f *testing.F) {
	f.Add("secret\x00cret12", []byte("my secret12 and secret and cret1"), []byte{3, 1, 4, 1, 5})
	f.Add("aaaa", []byte("aaaaaaa aaa aaaa"), []byte{1})
	f.Add("abcd\x00cdef\x00efgh", []byte("xabcdefghx abcdXefgh"), []byte{2, 0, 7})
	f.Add("aab", []byte("aaab aab"), []byte{2, 2})
	f.Add("abcd\x00abcdefgh", []byte("abcdefgX abcdefgh"), []byte{5})
	f.Add("line-one\nline-two\x01late-secret", []byte("line-one\r\nline-two late-sec|late-secret"), []byte{9, 3})
	f.Add("tok\x01token", []byte("tok token tok"), []byte{1, 2})
	f.Fuzz(func(t *testing.T, secrets string, input []byte, sizes []byte) {
		if len(input) > 4096 || len(secrets) > 256 || len(sizes) > 512 {
			t.Skip()
		}
		early, late, _ := strings.Cut(secrets, "\x01")
		earlySecrets := strings.Split(early, "\x00")
		var lateSecrets []string
		if late != "" {
			lateSecrets = strings.Split(late, "\x00")
		}
		opts := Options{MinLength: 1}

		// Write sizes cycle through sizes (0 is an empty Write followed by
		// a 1-byte one); the late secrets are added at the first boundary
		// at or after the middle.
		var chunks [][]byte
		for off, i := 0, 0; off < len(input); i++ {
			n := len(input) - off
			if len(sizes) > 0 {
				n = min(n, int(sizes[i%len(sizes)])%64)
			}
			if n == 0 {
				chunks = append(chunks, input[off:off])
				n = 1
			}
			chunks = append(chunks, input[off:off+n])
			off += n
		}
		addAt := len(chunks)
		for i, off := 0, 0; i < len(chunks); i++ {
			if off >= len(input)/2 {
				addAt = i
				break
			}
			off += len(chunks[i])
		}
		run := func(chunks [][]byte, addAt int) (string, *Set, []generation) {
			set := newSet(t, opts, earlySecrets...)
			gens := []generation{{0, set.snapshot()}}
			var out bytes.Buffer
			w := set.NewWriter(&out)
			written := 0
			for i := 0; i <= len(chunks); i++ {
				if i == addAt && lateSecrets != nil {
					set.Add(lateSecrets...)
					gens = append(gens, generation{written, set.snapshot()})
				}
				if i == len(chunks) {
					break
				}
				if _, err := w.Write(chunks[i]); err != nil {
					t.Fatal(err)
				}
				written += len(chunks[i])
				checkHoldback(t, set, w, string(input[:written]))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return out.String(), set, gens
		}
		got, set, gens := run(chunks, addAt)

		// Chunking invariance: the same stream in at most two writes (split
		// where the late secrets are added).
		off := 0
		for _, c := range chunks[:addAt] {
			off += len(c)
		}
		if whole, _, _ := run([][]byte{input[:off], input[off:]}, 1); whole != got {
			t.Fatalf("chunking changes the output:\n%q\nvs one write\n%q", got, whole)
		}

		// The one-shot definition.
		covered := make([]bool, len(input))
		starts := make([]int, len(gens))
		for j, g := range gens {
			var prev []string
			if j > 0 {
				prev = gens[j-1].patterns
				starts[j] = g.at - longestSuffixPrefix(string(input[starts[j-1]:g.at]), prev)
			}
			cover(string(input), newPatterns(g.patterns, prev), starts[j], covered)
		}
		tokens, at := checkLayout(t, input, covered, got, set.opts.Mask)

		// No pattern survives outside the mask tokens, from where it
		// applies on (a late secret does not retract released bytes).
		for j, g := range gens {
			for _, p := range g.patterns {
				checkSurvivors(t, got, p, at[starts[j]], tokens, len(set.opts.Mask))
			}
		}
	})
}

// checkSurvivors fails if p occurs in out at or after offset from without
// overlapping a mask token.
func checkSurvivors(t *testing.T, out, p string, from int, tokens []int, maskLen int) {
	t.Helper()
	for i := from; i < len(out); i++ {
		j := strings.Index(out[i:], p)
		if j < 0 {
			break
		}
		i += j
		if !slices.ContainsFunc(tokens, func(tok int) bool { return tok < i+len(p) && i < tok+maskLen }) {
			t.Fatalf("pattern %q survives at output offset %d: %q", p, i, out)
		}
	}
}

// checkLayout checks that out is input with each maximal run of covered
// bytes replaced by one mask and every other byte preserved in order, and
// returns the output offsets of the masks and, for each input offset, the
// output offset of its byte (or of the mask covering it).
func checkLayout(t *testing.T, input []byte, covered []bool, out, mask string) (tokens, at []int) {
	t.Helper()
	at = make([]int, len(input)+1)
	j := 0
	for i := 0; i < len(input); i++ {
		at[i] = j
		if !covered[i] {
			if j >= len(out) || out[j] != input[i] {
				t.Fatalf("input byte %d (%q) is not at output offset %d: output %q", i, input[i], j, out)
			}
			j++
			continue
		}
		if !strings.HasPrefix(out[j:], mask) {
			t.Fatalf("no mask at output offset %d for the covered run at input offset %d: output %q", j, i, out)
		}
		tokens = append(tokens, j)
		j += len(mask)
		for i+1 < len(input) && covered[i+1] {
			i++
			at[i] = tokens[len(tokens)-1]
		}
	}
	if j != len(out) {
		t.Fatalf("%d extra output bytes: %q", len(out)-j, out[j:])
	}
	at[len(input)] = j
	return tokens, at
}
