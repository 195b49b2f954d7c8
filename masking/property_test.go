package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestStreamingMatchesReference compares the Writer with the one-shot
// reference over random inputs, secrets, splits and mid-stream Adds. Small
// alphabets make overlaps, adjacency, repeats and prefixes common; some
// hold escape sequences (invisible to matching), some inputs are long
// enough for the scanner's 512-byte blocks.
func TestStreamingMatchesReference(t *testing.T) {
	iters := 3000
	if testing.Short() || raceEnabled {
		iters /= 4
	}
	r := rand.New(rand.NewPCG(7, 11))
	alphabets := []string{"ab", "abc", "aab", "ab\n", "a \r\n", "abcdefgh", "ab\x1b[1m", "abc\x1b[m"}
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
		n := r.IntN(150)
		if it%10 == 0 {
			n = 600 + r.IntN(3000)
		}
		input := word(n)
		set := NewSet(Options{Mask: "#", MinLength: 1 + r.IntN(3), Detectors: []string{}})
		set.Add(secrets()...)

		// Write boundaries, some of them with Adds.
		var cuts []int
		for i := 0; i <= len(input); i++ {
			if r.IntN(6+len(input)/50) == 0 {
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
		released := []int{0}
		var out bytes.Buffer
		w := set.NewWriter(&out)
		prev := 0
		for _, c := range cuts {
			if s, ok := adds[prev]; ok {
				set.Add(s...)
				if p := set.snapshot(); len(p) != len(gens[len(gens)-1].patterns) {
					gens = append(gens, generation{prev, p})
					released = append(released, int(w.rawDone))
				}
			}
			if _, err := w.Write([]byte(input[prev:c])); err != nil {
				t.Fatal(err)
			}
			if len(input) < 600 {
				checkHoldback(t, set, w, input[:c])
			}
			prev = c
		}
		if s, ok := adds[len(input)]; ok { // after the last write
			set.Add(s...)
			if p := set.snapshot(); len(p) != len(gens[len(gens)-1].patterns) {
				gens = append(gens, generation{len(input), p})
				released = append(released, int(w.rawDone))
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := referenceLexedGenerations(t, input, gens, released, "#"); out.String() != want {
			t.Fatalf("iteration %d: input %q, generations %+v, writes ending at %v\n got %q\nwant %q",
				it, input, gens, cuts, out.String(), want)
		}
	}
}

// referenceLexedGenerations is referenceGenerations on the visible bytes,
// with the raw view: generation offsets are input offsets, and released[j]
// is the input the Writer had passed on when generation j began. A
// pattern of generation j masks its raw occurrences that start there or
// later; its visible ones start where the previous generation's patterns
// leave off, or earlier, at the visible bytes that a pending raw match
// holds back (which must not have been passed on).
func referenceLexedGenerations(t *testing.T, input string, gens []generation, released []int, mask string) string {
	t.Helper()
	l := lexInput(input, true)
	ci := l.cleanIndex()
	covered := make([]bool, len(l.clean))
	drop := make([]bool, len(l.raw))
	genOf := map[string]int{}
	start := 0
	var prev []string
	for j, g := range gens {
		if j > 0 {
			at := ci[g.at]
			start = at - longestSuffixPrefix(l.clean[start:at], prev)
			s := rawPending(lexInput(input[:g.at], true), prev, func(p string, s int) bool { return released[genOf[p]] <= s })
			if s < g.at {
				if released[j] > s {
					t.Fatalf("input %q: generation %d began after %d bytes were passed on, but a raw match was pending from %d",
						input, j, released[j], s)
				}
				start = min(start, ci[s])
			}
		}
		fresh := newPatterns(g.patterns, prev)
		var pats []pattern
		for _, p := range fresh {
			genOf[p] = j
			pats = append(pats, pattern{s: p})
		}
		cover(l.clean, fresh, start, covered)
		redrawCover(l.clean, fresh, start, ci[g.at], covered)
		refRawView(nil, l, pats, released[j], covered, drop)
		prev = g.patterns
	}
	return renderView(l, covered, drop, mask)
}

// detectorPieces make inputs in which the detectors' triggers, bodies and
// terminators meet in every order.
func detectorPieces() []string {
	return []string{"glpat-", "ghp_", "tok-", "AKIA", "ASIA", "ABCDEFGHIJKLMNOP", "QRSTUVWX", "https://", "u", "ser", ":",
		"p4ss", "@", "/", "-----BEGIN ", "RSA ", "PRIVATE KEY-----", "-----END", "-----", "MIIB", ".eyJh", "eyJhbGci",
		"?sig=", "&X-Amz-Credential=", "abc", "x", " ", "\n", "\x1b[31m", "\x1b[0m", "\x1b", "=", "_", ".", "s3cr3t-v4lue",
		// Prefixes of escape sequences that swallow what follows.
		"\x1b[", "\x1b[1;", "73336", "42434445464748"}
}

// TestDetectorsMatchReference does the same for the detectors, escape
// sequences, secrets and masked prefixes together (no Adds).
func TestDetectorsMatchReference(t *testing.T) {
	iters := 1500
	if testing.Short() || raceEnabled {
		iters /= 4
	}
	r := rand.New(rand.NewPCG(13, 17))
	pieces := detectorPieces()
	set := NewSet(Options{Mask: "#", TokenPrefixes: []string{"tok-"},
		Rules: []Rule{{ID: "pw", Prefix: "Password=", MaskPrefix: true, Body: BodyNonSpace}}})
	set.Add("s3cr3t-v4lue", "BCDEFGH")
	for it := range iters {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if it%5 == 0 {
			b.WriteString("Password=hunter2 ")
		}
		input := b.String()
		want := referenceSet(set, input)
		var cuts []int
		for i := 1; i < len(input); i++ {
			if r.IntN(8) == 0 {
				cuts = append(cuts, i)
			}
		}
		if got := stream(t, set, splitAt(input, cuts...)...); got != want {
			t.Fatalf("iteration %d: input %q, writes ending at %v\n got %q\nwant %q", it, input, cuts, got, want)
		}
	}
	// Every rule had matches to check.
	h := set.Hits()
	for _, id := range []string{"secret", "token-prefix", "pw", DetectGitLabToken, DetectGitHubToken, DetectAWSKeyID,
		DetectJWT, DetectPrivateKey, DetectURLCredential, DetectURLPassword} {
		if h[id] == 0 {
			t.Errorf("no %s matches in %d inputs: %v", id, iters, h)
		}
	}
}

// FuzzChunking checks, for arbitrary secrets, input and write sizes, that
// the output does not depend on the chunking, that no registered pattern
// survives in it, and that the bytes outside matches come out unchanged and
// in order. Secrets are separated by NUL; those after a 0x01 byte are added
// in the middle of the stream. A secret may be generated (fuzzSecret) and
// the input may print the secrets' encoded forms (fuzzInput), so that the
// fuzzer reaches values a file's trailing newline ends, base64 padding,
// and very short and very long secrets. (Detectors and escape sequences
// are off: FuzzDetectors covers them.)
func FuzzChunking(f *testing.F) {
	f.Add("secret\x00cret12", []byte("my secret12 and secret and cret1"), []byte{3, 1, 4, 1, 5})
	f.Add("aaaa", []byte("aaaaaaa aaa aaaa"), []byte{1})
	f.Add("abcd\x00cdef\x00efgh", []byte("xabcdefghx abcdXefgh"), []byte{2, 0, 7})
	f.Add("aab", []byte("aaab aab"), []byte{2, 2})
	f.Add("abcd\x00abcdefgh", []byte("abcdefgX abcdefgh"), []byte{5})
	f.Add("line-one\nline-two\x01late-secret", []byte("line-one\r\nline-two late-sec|late-secret"), []byte{9, 3})
	f.Add("tok\x01token", []byte("tok token tok"), []byte{1, 2})
	f.Add("Password123!", []byte("UGFzc3dvcmQxMjMhCg== 123Pass%20word"), []byte{6})
	// A value read from a file with its newline, printed as padded base64
	// and a newline, one byte per write.
	f.Add("Zn1KiR\n", []byte("Wm4xS2lSCg==\n"), []byte{1})
	f.Add("\x02\x05\x0aZn1KiR", []byte("\x02\x08\n"), []byte{1})
	f.Add("\x02\x1c\x03abc\x00\x02\x02\x06x", []byte("a \x02\x00 b \x02\x09\x02\x21 \x02\x20"), []byte{7, 1})
	f.Fuzz(func(t *testing.T, secrets string, input []byte, sizes []byte) {
		if len(input) > 4096 || len(secrets) > 256 || len(sizes) > 512 {
			t.Skip()
		}
		early, late, _ := strings.Cut(secrets, "\x01")
		earlySecrets := fuzzSecrets(early)
		var lateSecrets []string
		if late != "" {
			lateSecrets = fuzzSecrets(late)
		}
		input = fuzzInput(input, append(slices.Clip(earlySecrets), lateSecrets...))
		opts := plainOpts(Options{MinLength: 1})
		chunks, addAt := fuzzChunks(input, sizes)
		var pgens [][]pattern // the patterns of each generation, with their tails
		run := func(chunks [][]byte, addAt int) (string, *Set, []generation) {
			set := newSet(t, opts, earlySecrets...)
			gens := []generation{{0, set.snapshot()}}
			pgens = [][]pattern{set.allPatterns()}
			var out bytes.Buffer
			w := set.NewWriter(&out)
			written := 0
			for i := 0; i <= len(chunks); i++ {
				if i == addAt && lateSecrets != nil {
					set.Add(lateSecrets...)
					gens = append(gens, generation{written, set.snapshot()})
					pgens = append(pgens, set.allPatterns())
				}
				if i == len(chunks) {
					break
				}
				if _, err := w.Write(chunks[i]); err != nil {
					t.Fatal(err)
				}
				written += len(chunks[i])
				if len(input) <= 4096 || i%16 == 0 { // long generated inputs: the oracle is quadratic
					checkHoldback(t, set, w, string(input[:written]))
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return out.String(), set, gens
		}
		// Chunking invariance: the same stream in at most two writes (split
		// where the late secrets are added).
		off := 0
		for _, c := range chunks[:addAt] {
			off += len(c)
		}
		whole, _, _ := run([][]byte{input[:off], input[off:]}, 1)
		got, set, gens := run(chunks, addAt)
		if whole != got {
			t.Fatalf("chunking changes the output:\n%q\nvs one write\n%q", got, whole)
		}

		// The one-shot definition (a base64 core's match extends over the
		// character and padding after it; a prefix a CR ends is masked).
		covered := make([]bool, len(input))
		starts := make([]int, len(gens))
		for j, g := range gens {
			var prev []string
			if j > 0 {
				prev = gens[j-1].patterns
				starts[j] = g.at - longestSuffixPrefix(string(input[starts[j-1]:g.at]), prev)
				starts[j] = min(starts[j], refHexPending(string(input[:g.at]), prev, false),
					refWrapPending(string(input[:g.at]), prev))
			}
			var fresh []pattern
			for _, p := range pgens[j] {
				if !slices.Contains(prev, p.s) {
					fresh = append(fresh, p)
				}
			}
			refCover(set, string(input), fresh, starts[j], covered)
			redrawCover(string(input), patternStrings(fresh), starts[j], g.at, covered)
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

// fuzzSecrets splits NUL-separated secrets, generating those that start
// with 0x02 (fuzzSecret).
func fuzzSecrets(spec string) []string {
	out := strings.Split(spec, "\x00")
	for i, s := range out {
		out[i] = fuzzSecret(s)
	}
	return out
}

// fuzzSecret returns s, or, if s is 0x02, L, T and then any bytes, a
// secret of a length chosen by L (1 to 300 bytes, lengths around the
// multiples of 3 and of the window sizes) made of the bytes (repeated, or
// letters and digits if there are none), followed by white space chosen by
// T: what a value read from a file or a heredoc ends with.
func fuzzSecret(s string) string {
	if len(s) < 3 || s[0] != 0x02 {
		return s
	}
	lengths := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 23, 24, 25, 31, 32, 33,
		47, 48, 49, 63, 64, 65, 100, 255, 256, 257, 300}
	trailing := []string{"", "\n", " ", "\r\n", "\t", "\n\n", " \n", "  ", "\r"}
	n, tail, body := lengths[int(s[1])%len(lengths)], trailing[int(s[2])%len(trailing)], s[3:]
	if body == "" {
		body = "Zm9vYmFy0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = body[i%len(body)]
	}
	return string(b) + tail
}

// fuzzInput returns input with each 0x02 and the byte B after it replaced
// by a form of secret B%8 (modulo their number) chosen by B/8: the value,
// its base64 (padded, unpadded, URL alphabet, of the value with a newline
// after it or with a few bytes before it), hex, JSON, URL and shell
// escapes, hex with separators or a prefix per byte (the hex view), and
// UTF-16.
func fuzzInput(input []byte, secrets []string) []byte {
	if bytes.IndexByte(input, 0x02) < 0 || len(secrets) == 0 {
		return input
	}
	forms := []func(string) string{
		func(s string) string { return s },
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) },
		func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s + "\n")) },
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte("u:" + s)) },
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte("x" + s + "\r\n")) },
		func(s string) string { return hex.EncodeToString([]byte(s)) },
		func(s string) string { return jsonEscape(s, false) },
		func(s string) string { return url.QueryEscape(s) },
		func(s string) string { return strings.ReplaceAll(s, "'", `'\''`) },
		// The hex view's forms and UTF-16.
		func(s string) string { return hexUnits(s, "", ":") },
		func(s string) string { return strings.ToUpper(hexUnits(s, "", " ")) },
		func(s string) string { return hexUnits(s, `\x`, "") },
		func(s string) string { return hexUnits(s, "%", "") },
		func(s string) string { return hexUnits(s, "%25", "") },
		func(s string) string { // xxd: groups of two bytes
			h := hexUnits(s, "", "")
			var g []string
			for i := 0; i < len(h); i += 4 {
				g = append(g, h[i:min(i+4, len(h))])
			}
			return strings.Join(g, " ")
		},
		func(s string) string { return utf16Forms(s)[0] },
		func(s string) string { return utf16Forms(s)[1] },
		func(s string) string { return wrapBase64(s+"\n", 64, "\n") },
		func(s string) string { return wrapBase64("x"+s, 76, "\r\n") },
	}
	var out []byte
	for i := 0; i < len(input); i++ {
		if input[i] != 0x02 || i+1 == len(input) {
			out = append(out, input[i])
			continue
		}
		b := int(input[i+1])
		i++
		out = append(out, forms[b/8%len(forms)](secrets[b%8%len(secrets)])...)
		if len(out) > 4<<10 {
			break
		}
	}
	return out
}

// hexUnits returns the bytes of s in hex, each after pre, with sep
// between them.
func hexUnits(s, pre, sep string) string {
	units := make([]string, len(s))
	for i := range len(s) {
		units[i] = pre + hex.EncodeToString([]byte{s[i]})
	}
	return strings.Join(units, sep)
}

// FuzzDetectors checks the detectors, escape sequences and secrets
// together: the output does not depend on the chunking and equals the
// reference, the visible bytes outside matches come out unchanged and in
// order (escape sequences all come out), and neither a registered pattern
// nor a detector's match survives. The input is assembled from pieces
// (the fuzzer's bytes pick them) and raw bytes.
func FuzzDetectors(f *testing.F) {
	f.Add([]byte("\x00\x05\x01\x02 raw glpat-xyz"), []byte{3, 9})
	f.Add([]byte("\x07\x08\x09\x0a\x0b\x0c"), []byte{1})
	f.Add([]byte("\x0e\x0f\x10\x11\x12\x13"), []byte{2, 5})
	f.Add([]byte("https://user:pa\x1b[1mss@h AKIA\x1b[0mIOSFODNN7EXAMPLE"), []byte{4})
	f.Fuzz(checkDetectorInput)
}

// checkDetectorInput is FuzzDetectors' test of one input.
func checkDetectorInput(t *testing.T, spec []byte, sizes []byte) {
	if len(spec) > 1024 || len(sizes) > 256 {
		t.Skip()
	}
	pieces := detectorPieces()
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		if spec[i] < 0x20 { // a piece
			b.WriteString(pieces[int(spec[i])%len(pieces)])
		} else {
			b.WriteByte(spec[i])
		}
	}
	input := []byte(b.String())
	// The mask is DEL, which is visible after any escape sequence
	// prefix, so the output lexes like the input.
	const mask = "\x7f"
	set := NewSet(Options{Mask: mask, MinLength: 4, TokenPrefixes: []string{"tok-"}})
	set.Add("s3cr3t-v4lue", "BCDEFGH")
	chunks, _ := fuzzChunks(input, sizes)
	var out bytes.Buffer
	w := set.NewWriter(&out)
	written := 0
	for i, c := range chunks {
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
		written += len(c)
		if len(chunks) <= 64 || i%16 == 0 { // the oracle is quadratic
			checkHoldback(t, set, w, string(input[:written]))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if whole := set.MaskString(string(input)); whole != got {
		t.Fatalf("chunking changes the output:\n%q\nvs one write\n%q", got, whole)
	}
	l, covered, drop := referenceView(set, string(input))
	if want := renderView(l, covered, drop, mask); got != want {
		t.Fatalf("input %q\n got %q\nwant %q", input, got, want)
	}
	ol := lexInput(got, true)
	var tokens []int
	if !slices.Contains(drop, true) {
		// The layout: the output is the input with each covered run of
		// visible bytes replaced by one mask and every other byte kept.
		tokens, _ = checkLayout(t, []byte(l.clean), covered, ol.clean, mask)
	} else {
		// Raw matches drop escape sequence bytes, so the output lexes
		// differently: its masks are where renderView put them.
		ci := ol.cleanIndex()
		for _, o := range maskOffsets(l, covered, drop) {
			tokens = append(tokens, ci[o])
		}
	}
	for _, p := range set.snapshot() {
		checkSurvivors(t, ol.clean, p, 0, tokens, 1)
	}
}

// maskOffsets returns the output offsets of the masks renderView writes
// (one byte each).
func maskOffsets(l lexed, covered, drop []bool) []int {
	var out []int
	c, run, o := 0, false, 0
	for i := 0; i < len(l.raw); i++ {
		gone := drop[i]
		if l.visible[i] {
			gone = covered[c]
			c++
		}
		switch {
		case gone && !run:
			out = append(out, o)
			o++
			run = true
		case gone:
		default:
			o++
			run = run && !l.visible[i]
		}
	}
	return out
}

// fuzzChunks cuts input into writes whose sizes cycle through sizes (0 is
// an empty Write followed by a 1-byte one), and returns the index of the
// first write at or after the middle.
func fuzzChunks(input, sizes []byte) ([][]byte, int) {
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
	return chunks, addAt
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
