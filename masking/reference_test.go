package masking

import (
	"bytes"
	"strings"
	"testing"
)

// This file holds the one-shot reference the streaming Writer is checked
// against, and test helpers shared by the other tests. The reference works
// on the whole input at once and is written for obviousness, not speed:
// it finds every occurrence by trying every position.

// referenceMask is the naive definition of masking raw bytes: find every
// occurrence of every pattern, mark the bytes they cover, and replace each
// maximal run of marked bytes (which merges overlapping and adjacent
// occurrences) with one mask token.
func referenceMask(input string, patterns []string, mask string) string {
	covered := cover(input, patterns, 0, nil)
	redrawCover(input, patterns, 0, 0, covered)
	return render(input, covered, mask)
}

// redrawCover marks in covered each prefix of a pattern, starting at or
// after from, of at least minRedrawPrefix(len) bytes but not all of it,
// that a carriage return at or after crFrom ends, unless the pattern goes
// on with LF there.
func redrawCover(input string, patterns []string, from, crFrom int, covered []bool) {
	for _, p := range patterns {
		for i := from; i < len(input); i++ {
			n := 0
			for n < len(p) && i+n < len(input) && input[i+n] == p[n] {
				n++
			}
			c := i + n
			if n < len(p) && n >= minRedrawPrefix(len(p)) && c < len(input) && c >= crFrom && input[c] == '\r' && p[n] != '\n' {
				for k := i; k < c; k++ {
					covered[k] = true
				}
			}
		}
	}
}

func patternStrings(pats []pattern) []string {
	out := make([]string, len(pats))
	for i, p := range pats {
		out[i] = p.s
	}
	return out
}

// cover marks in covered (allocated if nil) every byte of input inside an
// occurrence of a pattern that starts at or after from.
func cover(input string, patterns []string, from int, covered []bool) []bool {
	if covered == nil {
		covered = make([]bool, len(input))
	}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		for i := from; i <= len(input)-len(p); {
			j := strings.Index(input[i:], p)
			if j < 0 {
				break
			}
			for k := i + j; k < i+j+len(p); k++ {
				covered[k] = true
			}
			i += j + 1
		}
	}
	return covered
}

func render(input string, covered []bool, mask string) string {
	var b strings.Builder
	for i := 0; i < len(input); i++ {
		if !covered[i] {
			b.WriteByte(input[i])
			continue
		}
		b.WriteString(mask)
		for i+1 < len(input) && covered[i+1] {
			i++
		}
	}
	return b.String()
}

// A lexed input is raw input with its escape sequences found: clean holds
// the visible bytes, at[c] the raw offset of visible byte c (at[len(clean)]
// is len(raw)), and visible[i] says whether raw byte i is visible.
type lexed struct {
	raw, clean string
	at         []int
	visible    []bool
}

// lexInput finds the escape sequences of raw by the rules of ansi.go,
// written out byte by byte: ESC and NUL are invisible; after "ESC [", bytes
// 0x20-0x3F (at most maxCSI) and one final byte 0x40-0x7E are too.
func lexInput(raw string, ansi bool) lexed {
	l := lexed{raw: raw, visible: make([]bool, len(raw))}
	var clean []byte
	for i := 0; i < len(raw); {
		if ansi && raw[i] == nul {
			i++ // invisible
			continue
		}
		if !ansi || raw[i] != esc {
			l.visible[i] = true
			l.at = append(l.at, i)
			clean = append(clean, raw[i])
			i++
			continue
		}
		i++ // ESC
		if i < len(raw) && raw[i] == '[' {
			i++
			for n := 0; i < len(raw) && raw[i] >= 0x20 && raw[i] <= 0x3f && n < maxCSI; n++ {
				i++
			}
			if i < len(raw) && raw[i] >= 0x40 && raw[i] <= 0x7e {
				i++
			}
		}
	}
	l.at = append(l.at, len(raw))
	l.clean = string(clean)
	return l
}

// renderLexed writes raw with each maximal run of covered visible bytes
// replaced by one mask token (at its first visible byte); invisible bytes
// are always written.
func renderLexed(l lexed, covered []bool, mask string) string {
	return renderView(l, covered, nil, mask)
}

// renderView writes raw without the covered visible bytes and the dropped
// invisible ones (drop, by raw offset, may be nil), with one mask token at
// the first byte of each run of them: invisible bytes that are written do
// not end a run, visible ones do.
func renderView(l lexed, covered, drop []bool, mask string) string {
	var b strings.Builder
	c, run := 0, false
	for i := 0; i < len(l.raw); i++ {
		gone := drop != nil && drop[i]
		if l.visible[i] {
			gone = covered[c]
			c++
		}
		switch {
		case gone && !run:
			b.WriteString(mask)
			run = true
		case gone:
		case l.visible[i]:
			b.WriteByte(l.raw[i])
			run = false
		default:
			b.WriteByte(l.raw[i])
		}
	}
	return b.String()
}

// cleanIndex returns, for each raw offset i (and len(raw)), the number of
// visible bytes before it.
func (l lexed) cleanIndex() []int {
	out := make([]int, len(l.raw)+1)
	c := 0
	for i := range l.raw {
		out[i] = c
		if l.visible[i] {
			c++
		}
	}
	out[len(l.raw)] = c
	return out
}

// refRawView marks what the raw view masks: every occurrence of a pattern
// in the raw bytes that starts at an invisible byte other than ESC, at raw
// offset from or later. Its invisible bytes are marked in drop (by raw
// offset), its visible ones, and the pattern's tail after it (if set is
// not nil), in covered (by clean offset).
func refRawView(set *Set, l lexed, pats []pattern, from int, covered, drop []bool) {
	ci := l.cleanIndex()
	for _, p := range pats {
		for i := from; i+len(p.s) <= len(l.raw); i++ {
			if l.visible[i] || l.raw[i] == esc || l.raw[i:i+len(p.s)] != p.s {
				continue
			}
			for k := i; k < i+len(p.s); k++ {
				if l.visible[k] {
					covered[ci[k]] = true
				} else {
					drop[k] = true
				}
			}
			if set != nil {
				e := tailEnd(set.det.tails[p.tail], l.clean, ci[i+len(p.s)])
				for k := ci[i+len(p.s)]; k < e; k++ {
					covered[k] = true
				}
			}
		}
	}
}

// rawPending returns the raw offset of the earliest start of a pending raw
// match at the end of l: an invisible byte other than ESC from which the
// rest of the input, with no ESC in it, is a proper prefix of a pattern
// that applies there (active). It returns len(raw) if there is none.
func rawPending(l lexed, pats []string, active func(p string, s int) bool) int {
	longest := 0
	for _, p := range pats {
		longest = max(longest, len(p))
	}
	// After the last ESC, and shorter than a pattern.
	from := max(strings.LastIndexByte(l.raw, esc)+1, len(l.raw)-longest)
	for s := from; s < len(l.raw); s++ {
		if l.visible[s] {
			continue
		}
		rest := l.raw[s:]
		for _, p := range pats {
			if len(rest) < len(p) && strings.HasPrefix(p, rest) && active(p, s) {
				return s
			}
		}
	}
	return len(l.raw)
}

// tailEnd returns where the tail t of a match ending at e ends in clean.
func tailEnd(t tailSpec, clean string, e int) int {
	for n := 0; t.c1 != nil && e < len(clean) && t.c1[clean[e]] && (t.n1 == 0 || n < t.n1); n++ {
		e++
	}
	for n := 0; t.c2 != nil && e < len(clean) && t.c2[clean[e]] && (t.n2 == 0 || n < t.n2); n++ {
		e++
	}
	return e
}

// refCover marks what the Set's patterns (with their tails) and detectors
// cover in clean, from clean offset from on.
func refCover(set *Set, clean string, pats []pattern, from int, covered []bool) []bool {
	if covered == nil {
		covered = make([]bool, len(clean))
	}
	mark := func(a, b int) {
		for k := max(a, from); k < b; k++ {
			covered[k] = true
		}
	}
	for _, p := range pats {
		t := set.det.tails[p.tail]
		for i := from; i+len(p.s) <= len(clean); i++ {
			if clean[i:i+len(p.s)] != p.s {
				continue
			}
			mark(i, tailEnd(t, clean, i+len(p.s)))
		}
	}
	refHexCover(clean, pats, from, covered, set.ansi)
	refWrapCover(clean, pats, from, covered)
	for ti := range set.det.triggers {
		t := &set.det.triggers[ti]
		r := &set.det.rules[t.rule]
		for st := from; st+t.size() <= len(clean); st++ {
			if t.matchAt([]byte(clean[st:])) {
				a, b := refDetector(r, clean, st+t.litAt()+len(t.lit))
				mark(a, b)
			}
		}
	}
	return covered
}

// refDetector returns what a detector whose trigger's literal ends at b
// masks, [a, e) (empty if nothing).
func refDetector(r *rule, s string, b int) (int, int) {
	run := func(i int, cl *class) int {
		for i < len(s) && cl[s[i]] {
			i++
		}
		return i
	}
	switch r.kind {
	case kindRun:
		return b, run(b, r.body)
	case kindAWS:
		if b+awsKeyLen > len(s) || run(b, r.pre) < b+awsKeyLen {
			return 0, 0
		}
		return b, run(b+awsKeyLen, r.body)
	case kindPEM:
		for i := b; i < len(s) && i-b < maxPEMHeader && r.pre[s[i]]; i++ {
			if h := s[b : i+1]; strings.HasSuffix(h, "PRIVATE KEY-----") || strings.HasSuffix(h, "PRIVATE KEY BLOCK-----") {
				c := i + 1
				k := strings.Index(s[c:], "-----END")
				if k < 0 || k+8 > maxPEMBody {
					return c, min(len(s), c+maxPEMBody+1)
				}
				e, dashes := c+k+8, 0
				for n := 0; e < len(s) && s[e] != '\r' && s[e] != '\n' && n < maxPEMFooter && dashes < 5; n++ {
					if s[e] == '-' {
						dashes++
					} else {
						dashes = 0
					}
					e++
				}
				return c, e
			}
		}
	case kindUserinfo:
		u := run(b, r.pre)
		if u-b > maxUserinfo || u >= len(s) || s[u] != ':' {
			return 0, 0
		}
		p := run(u+1, r.body)
		if p-(u+1) < 1 || p-(u+1) > maxUserinfo || p >= len(s) || s[p] != '@' {
			return 0, 0
		}
		return u + 1, p
	}
	return 0, 0
}

// referenceSet is what a Writer of set must write for input, given in one
// piece with no secrets added while it runs.
func referenceSet(set *Set, input string) string {
	l, covered, drop := referenceView(set, input)
	return renderView(l, covered, drop, set.opts.Mask)
}

// referenceView returns input lexed, what the Set covers in its visible
// bytes (by clean offset), and, with escape sequences handled, the
// invisible bytes it drops (by raw offset; nil without).
func referenceView(set *Set, input string) (l lexed, covered, drop []bool) {
	l = lexInput(input, set.ansi)
	pats := set.allPatterns()
	covered = refCover(set, l.clean, pats, 0, nil)
	redrawCover(l.clean, patternStrings(pats), 0, 0, covered)
	if set.ansi {
		drop = make([]bool, len(l.raw))
		refRawView(set, l, pats, 0, covered, drop)
	}
	return l, covered, drop
}

// referenceRawCover is what the Set masks in input, by raw offset.
func referenceRawCover(set *Set, input string) []bool {
	l, covered, drop := referenceView(set, input)
	out := make([]bool, len(l.raw))
	for i := range out {
		out[i] = drop != nil && drop[i]
	}
	for c, cov := range covered {
		out[l.at[c]] = out[l.at[c]] || cov
	}
	return out
}

func (s *Set) allPatterns() []pattern {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pattern(nil), s.patterns...)
}

// A generation is the pattern set in force from input offset at on (the
// patterns are cumulative).
type generation struct {
	at       int
	patterns []string
}

// referenceGenerations is referenceMask for a stream whose patterns grow at
// given offsets. A pattern first registered in generation j masks the
// occurrences starting at or after start[j], the first byte a Writer had not
// released when it switched: the stream's longest suffix that is a prefix of
// a generation j-1 pattern, looking no further back than start[j-1]; and
// the prefixes from there that a carriage return after the switch ends.
func referenceGenerations(input string, gens []generation, mask string) string {
	covered := make([]bool, len(input))
	start := 0
	var prev []string
	for j, g := range gens {
		if j > 0 {
			start = g.at - longestSuffixPrefix(input[start:g.at], prev)
		}
		cover(input, newPatterns(g.patterns, prev), start, covered)
		redrawCover(input, newPatterns(g.patterns, prev), start, g.at, covered)
		prev = g.patterns
	}
	return render(input, covered, mask)
}

func newPatterns(cur, prev []string) []string {
	old := make(map[string]bool, len(prev))
	for _, p := range prev {
		old[p] = true
	}
	var out []string
	for _, p := range cur {
		if !old[p] {
			out = append(out, p)
		}
	}
	return out
}

// longestSuffixPrefix is the length of the longest suffix of s that is a
// prefix (possibly all) of a pattern.
func longestSuffixPrefix(s string, patterns []string) int {
	best := 0
	for _, p := range patterns {
		for l := min(len(s), len(p)); l > best; l-- {
			if s[len(s)-l:] == p[:l] {
				best = l
				break
			}
		}
	}
	return best
}

// longestProperPrefixSuffix is the length of the longest suffix of s that is
// a proper prefix of a pattern. (Knuth-Morris-Pratt over the tail of s, so
// that it stays linear on repetitive input: the fuzzers call it after every
// write.)
func longestProperPrefixSuffix(s string, patterns []string) int {
	best := 0
	for _, p := range patterns {
		if len(p) < 2 {
			continue
		}
		pi := make([]int, len(p)) // pi[i]: the longest proper border of p[:i+1]
		for i, k := 1, 0; i < len(p); i++ {
			for k > 0 && p[i] != p[k] {
				k = pi[k-1]
			}
			if p[i] == p[k] {
				k++
			}
			pi[i] = k
		}
		k := 0 // p[:k] is the longest prefix of p that is a suffix of what was read
		for i := max(0, len(s)-len(p)); i < len(s); i++ {
			if k == len(p) {
				k = pi[k-1]
			}
			for k > 0 && s[i] != p[k] {
				k = pi[k-1]
			}
			if s[i] == p[k] {
				k++
			}
		}
		if k == len(p) {
			k = pi[k-1]
		}
		best = max(best, k)
	}
	return best
}

// detectorPending is the length of the longest suffix of clean a detector
// holds back: the key characters after AKIA or ASIA (fewer than 16), or
// the password of "scheme://user:password" before its '@'.
func detectorPending(set *Set, clean string) int {
	best := 0
	for ti := range set.det.triggers {
		t := &set.det.triggers[ti]
		r := &set.det.rules[t.rule]
		if r.kind != kindAWS && r.kind != kindUserinfo {
			continue
		}
		for st := max(0, len(clean)-2*maxUserinfo-8); st+t.size() <= len(clean); st++ {
			if !t.matchAt([]byte(clean[st:])) {
				continue
			}
			b := st + t.litAt() + len(t.lit)
			switch r.kind {
			case kindAWS:
				k := b
				for k < len(clean) && r.pre[clean[k]] {
					k++
				}
				if k == len(clean) && k-b < awsKeyLen {
					best = max(best, k-b)
				}
			case kindUserinfo:
				u := b
				for u < len(clean) && r.pre[clean[u]] {
					u++
				}
				if u-b > maxUserinfo || u >= len(clean) || clean[u] != ':' {
					continue
				}
				p := u + 1
				for p < len(clean) && r.body[clean[p]] {
					p++
				}
				if p == len(clean) && p-(u+1) <= maxUserinfo {
					best = max(best, p-(u+1))
				}
			}
		}
	}
	return best
}

// snapshot returns the Set's patterns (secrets' forms, not masked rule
// prefixes).
func (s *Set) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.patterns[len(s.det.prefixes):] {
		out = append(out, p.s)
	}
	return out
}

// stream writes chunks to a fresh Writer of set and closes it, checking the
// holdback contract after every Write.
func stream(t testing.TB, set *Set, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := set.NewWriter(&out)
	written := ""
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
		written += c
		checkHoldback(t, set, w, written)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after Close", w.Buffered())
	}
	return out.String()
}

// checkHoldback verifies that w holds back only bytes of a pending partial
// match: the input from the first byte of the longest suffix of its
// visible bytes that is a proper prefix of a pattern, or that a detector
// holds back (so, without detectors, at most the longest pattern minus one
// byte).
func checkHoldback(t testing.TB, set *Set, w *Writer, written string) {
	t.Helper()
	held := w.Buffered()
	if held == 0 {
		return
	}
	var pats []string
	for _, p := range set.allPatterns() {
		pats = append(pats, p.s)
	}
	l := lexInput(written, set.ansi)
	pend := max(longestProperPrefixSuffix(l.clean, pats), detectorPending(set, l.clean),
		len(l.clean)-refHexPending(l.clean, pats, set.ansi), len(l.clean)-refWrapPending(l.clean, pats))
	allowed := len(written) - l.at[len(l.clean)-pend]
	if set.ansi {
		// A pending raw match: from an invisible byte on.
		allowed = max(allowed, len(written)-rawPending(l, pats, func(string, int) bool { return true }))
	}
	if held > allowed {
		t.Fatalf("after %q: %d bytes held, but the longest pending partial match holds %d", written, held, allowed)
	}
}

// splitAt cuts s at the given sorted offsets.
func splitAt(s string, cuts ...int) []string {
	var out []string
	prev := 0
	for _, c := range cuts {
		out = append(out, s[prev:c])
		prev = c
	}
	return append(out, s[prev:])
}

func newSet(t testing.TB, opts Options, secrets ...string) *Set {
	t.Helper()
	s := NewSet(opts)
	s.Add(secrets...)
	return s
}

// plainOpts are options without detectors and ANSI handling: the Set
// masks registered secrets as raw bytes, like the masker's first version.
func plainOpts(o Options) Options {
	o.Detectors = []string{}
	o.NoANSI = true
	return o
}

func TestReferenceItself(t *testing.T) {
	// The reference must be right for the property tests to mean anything.
	for _, c := range []struct {
		in   string
		pats []string
		want string
	}{
		{"abcdefg", []string{"bcd", "def"}, "a#g"},
		{"abcdef", []string{"abc", "def"}, "#"},
		{"abcxdef", []string{"abc", "def"}, "#x#"},
		{"aaaaaaa", []string{"aaaa"}, "#"},
		{"", []string{"a"}, ""},
		{"xyz", nil, "xyz"},
	} {
		if got := referenceMask(c.in, c.pats, "#"); got != c.want {
			t.Errorf("referenceMask(%q, %q) = %q, want %q", c.in, c.pats, got, c.want)
		}
	}
	gens := []generation{{0, []string{"abcd"}}, {3, []string{"abcd", "bcxy", "zz"}}}
	// At offset 3 "abc" is pending, so "bcxy" starting at 1 is masked.
	if got, want := referenceGenerations("abcxy", gens, "#"), "a#"; got != want {
		t.Errorf("referenceGenerations = %q, want %q", got, want)
	}
	gens = []generation{{0, nil}, {3, []string{"bcxy"}}}
	if got, want := referenceGenerations("abcxy", gens, "#"), "abcxy"; got != want {
		t.Errorf("referenceGenerations = %q, want %q", got, want)
	}

	// ANSI: escapes are skipped for matching and kept in the output; a
	// run's token replaces its first visible byte.
	l := lexInput("a\x1b[31mbc\x1b[0md\x1bx", true)
	if l.clean != "abcdx" || l.at[1] != 6 {
		t.Fatalf("lexInput: %q %v", l.clean, l.at)
	}
	if got, want := renderLexed(l, []bool{false, true, true, true, false}, "#"), "a\x1b[31m#\x1b[0m\x1bx"; got != want {
		t.Errorf("renderLexed = %q, want %q", got, want)
	}

	// Detectors.
	set := NewSet(Options{Mask: "#"})
	for in, want := range map[string]string{
		"x glpat-abc def":         "x glpat-# def",
		"AKIAIOSFODNN7EXAMPLE.":   "AKIA#.",
		"AKIAIOSFODNN7EXAMPL":     "AKIAIOSFODNN7EXAMPL",
		"https://u:p4ss@h/":       "https://u:#@h/",
		"http://localhost:8080/x": "http://localhost:8080/x",
		"-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\nok": "-----BEGIN RSA PRIVATE KEY-----#\nok",
		"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig ok":                           "t=eyJhbGciOiJIUzI1NiJ9.eyJ# ok",
		"?X-Amz-Signature=abc&x=1":                                                "?X-Amz-Signature=#&x=1",
	} {
		if got := referenceSet(set, in); got != want {
			t.Errorf("referenceSet(%q) = %q, want %q", in, got, want)
		}
	}
}

// The hex view (hexview.go), one-shot: clean is cut into segments of units
// ("%25", "%" or "\x" and two hex digits, or two hex digits) with at most
// one ':' or ' ' between two units; an occurrence of a pattern in a
// segment's decoded bytes masks its units.

// A refUnit is a unit at clean offsets [at, en), its digits from st on,
// that decodes to b.
type refUnit struct {
	at, st, en int
	b          byte
	join       int  // offset of its separator or prefix byte before its digits, or -1
	live       bool // the segment has had three joins at equal distances of 3 to 5 by it
}

// refHexByte decodes the two hex digits at s[k:].
func refHexByte(s string, k int) (byte, bool) {
	if k+2 > len(s) {
		return 0, false
	}
	hi := strings.IndexByte("0123456789abcdef", lowerHex(s[k]))
	lo := strings.IndexByte("0123456789abcdef", lowerHex(s[k+1]))
	if hi < 0 || lo < 0 || s[k] > 'f' || s[k+1] > 'f' {
		return 0, false
	}
	return byte(hi<<4 | lo), true
}

// refUnitAt returns the unit that begins at s[i:], if one does.
func refUnitAt(s string, i int) (refUnit, bool) {
	for _, f := range []string{"%25", "%", `\x`, ""} {
		if strings.HasPrefix(s[i:], f) {
			if b, ok := refHexByte(s, i+len(f)); ok {
				join := map[string]int{"%25": i, "%": i, `\x`: i + 1, "": -1}[f]
				return refUnit{i, i + len(f), i + len(f) + 2, b, join, false}, true
			}
		}
	}
	return refUnit{}, false
}

// refSegments cuts s into segments.
func refSegments(s string) [][]refUnit {
	var segs [][]refUnit
	var cur []refUnit
	end := func() {
		var joins []int
		live := false
		for k := range cur {
			if j := cur[k].join; j >= 0 {
				joins = append(joins, j)
				if n := len(joins); n >= 3 {
					d := joins[n-1] - joins[n-2]
					live = live || d >= 3 && d <= 5 && joins[n-2]-joins[n-3] == d
				}
			}
			cur[k].live = live
		}
		if len(cur) > 0 {
			segs = append(segs, cur)
		}
		cur = nil
	}
	for i := 0; i < len(s); {
		if len(cur) > 0 && (s[i] == ':' || s[i] == ' ') {
			if u, ok := refUnitAt(s, i+1); ok {
				if u.join < 0 {
					u.join = i
				}
				cur = append(cur, u)
				i = u.en
				continue
			}
		}
		if u, ok := refUnitAt(s, i); ok {
			cur = append(cur, u)
			i = u.en
			continue
		}
		end()
		i++
	}
	end()
	return segs
}

// decoded returns the decoded bytes of seg that are visible (with ansi,
// lexed like the output) and the units they come from.
func decoded(seg []refUnit, ansi bool) (string, []refUnit) {
	b := make([]byte, len(seg))
	for i, u := range seg {
		b[i] = u.b
	}
	l := lexInput(string(b), ansi)
	units := make([]refUnit, len(l.clean))
	for i := range units {
		units[i] = seg[l.at[i]]
	}
	return l.clean, units
}

// refHexCover marks in covered the units of each occurrence of a pattern
// in a segment's decoded bytes that begins at clean offset from or later.
func refHexCover(clean string, pats []pattern, from int, covered []bool, ansi bool) {
	for _, seg := range refSegments(clean) {
		d, seg := decoded(seg, ansi)
		for _, p := range pats {
			for i := 0; i+len(p.s) <= len(d); i++ {
				if d[i:i+len(p.s)] == p.s && seg[i].st >= from && seg[i+len(p.s)-1].live {
					for k := seg[i].st; k < seg[i+len(p.s)-1].en; k++ {
						covered[k] = true
					}
				}
			}
		}
	}
}

// formAt reports whether s is form f, in which 'H' stands for a hex digit.
func formAt(s, f string) bool {
	for i := range len(f) {
		if f[i] == 'H' && !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) || f[i] != 'H' && s[i] != f[i] {
			return false
		}
	}
	return true
}

// refHexPending returns the earliest clean offset the hex view holds back
// at the end of clean (len(clean) if none): where the longest suffix of the
// decoded bytes of the segment still open there that is a proper prefix of
// a pattern begins, or else a partial unit at the end if it may decode to
// a byte a pattern begins with.
func refHexPending(clean string, pats []string, ansi bool) int {
	if len(pats) == 0 {
		return len(clean)
	}
	// A segment holds units, separators and prefixes only, and a byte that
	// cannot be in one ends it: the one open at the end is in the last
	// stretch of such bytes. (This keeps the fuzzers' check after every
	// write linear.)
	base := len(clean)
	for base > 0 && strings.IndexByte("0123456789abcdefABCDEF: \\x%", clean[base-1]) >= 0 {
		base--
	}
	return base + refHexPendingIn(clean[base:], pats, ansi)
}

// refHexPendingIn is refHexPending on the last stretch.
func refHexPendingIn(clean string, pats []string, ansi bool) int {
	// The partial unit: a form that, completed, is a unit that ends there.
	partial, form := -1, ""
	for _, f := range []string{`\xH`, "%25H", `\x`, "%25", "%H", `\`, "%", "H"} {
		st := len(clean) - len(f)
		if st < 0 || !formAt(clean[st:], f) {
			continue
		}
		completion := map[string]string{`\xH`: "0", "%25H": "0", `\x`: "00", "%25": "00", "%H": "0", `\`: "x00", "%": "00", "H": "0"}[f]
		s := clean + completion
		for _, seg := range refSegments(s) {
			for _, u := range seg {
				if u.at == st && u.en == len(s) {
					partial, form = st, f
				}
			}
		}
		if partial >= 0 {
			break
		}
	}
	segs := refSegments(clean)
	if len(segs) > 0 {
		seg := segs[len(segs)-1]
		for len(seg) > 0 && partial >= 0 && seg[len(seg)-1].at >= partial {
			seg = seg[:len(seg)-1] // "%25" at the end is partial
		}
		if len(seg) > 0 {
			e := seg[len(seg)-1].en
			rest := clean[e:]
			if partial >= 0 {
				rest = clean[e:partial]
			}
			if rest == "" || rest == ":" || rest == " " {
				d, units := decoded(seg, ansi)
				if n := longestProperPrefixSuffix(d, pats); n > 0 {
					return units[len(units)-n].st
				}
			}
		}
	}
	if partial < 0 {
		return len(clean)
	}
	first := map[byte]bool{}
	for _, p := range pats {
		first[p[0]] = true
	}
	inRange := func(c byte) bool {
		d := strings.IndexByte("0123456789abcdef", lowerHex(c))
		for b := d << 4; b < d<<4+16; b++ {
			if first[byte(b)] {
				return true
			}
		}
		return false
	}
	last := clean[len(clean)-1]
	switch {
	case form == "H" && inRange(last):
		return partial
	case form == `\xH` && inRange(last):
		return partial + 2
	case form == "%H" && (inRange(last) || last == '2' && first['%']):
		return partial + 1
	case (form == "%25" || form == "%25H") && first['%']:
		return partial + 1
	case form == "%25H" && inRange(last):
		return partial + 3
	}
	return len(clean)
}

// The wrapped base64 view (wrapview.go), one-shot: a segment begins with a
// line of exactly 64 or 76 base64 characters (either alphabet, no '=')
// and its line break, and joins the lines after it while they have that
// width, and the characters of the line after the last full one.

const refB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"

// refWrapSegments returns the segments of clean, each character a unit,
// and whether the last one is still open at the end of clean.
func refWrapSegments(clean string) (segs [][]refUnit, open bool) {
	lf := -1
	for k := 0; k < len(clean); k++ {
		if clean[k] != '\n' {
			continue
		}
		st := lf + 1
		line := strings.TrimSuffix(clean[st:k], "\r")
		lf = k
		if !refFullLine(line) {
			continue
		}
		width := len(line)
		var seg []refUnit
		for j := range line {
			seg = append(seg, refUnit{st + j, st + j, st + j + 1, line[j], -1, true})
		}
		i, n, cr := k+1, 0, false
		open = false
		for {
			if i == len(clean) {
				open = true
				break
			}
			c := clean[i]
			if c == '\n' {
				lf = i
				i++
				if n != width {
					break
				}
				n, cr = 0, false
				continue
			}
			if c == '\r' && !cr && n == width {
				cr = true
			} else if strings.IndexByte(refB64, c) >= 0 && !cr && n < width {
				seg = append(seg, refUnit{i, i, i + 1, c, -1, true})
				n++
			} else {
				break
			}
			i++
		}
		segs = append(segs, seg)
		k = i - 1
	}
	// A full line and its CR at the end: the line feed may follow.
	if e := len(clean) - 1; !open && e >= 0 && clean[e] == '\r' && refFullLine(clean[lf+1:e]) {
		var seg []refUnit
		for j := lf + 1; j < e; j++ {
			seg = append(seg, refUnit{j, j, j + 1, clean[j], -1, true})
		}
		segs, open = append(segs, seg), true
	}
	return segs, open
}

// refWrapCover marks in covered the characters of each occurrence of a
// pattern in a segment's joined characters that begins at clean offset
// from or later (with the line breaks inside it).
func refWrapCover(clean string, pats []pattern, from int, covered []bool) {
	segs, _ := refWrapSegments(clean)
	for _, seg := range segs {
		d, _ := decoded(seg, false)
		for _, p := range pats {
			for i := 0; i+len(p.s) <= len(d); i++ {
				if d[i:i+len(p.s)] == p.s && seg[i].st >= from {
					for k := seg[i].st; k < seg[i+len(p.s)-1].en; k++ {
						covered[k] = true
					}
				}
			}
		}
	}
}

// refWrapPending returns where the longest suffix of the joined characters
// of the segment open at the end of clean that is a proper prefix of a
// pattern begins, or len(clean).
func refWrapPending(clean string, pats []string) int {
	// Any line of a segment but its last begins one of the same width, so
	// the last lines that a pattern can span are enough. (This keeps the
	// fuzzers' check after every write linear.)
	longest := 0
	for _, p := range pats {
		longest = max(longest, len(p))
	}
	base := len(clean)
	for lines := longest/64 + 3; base > 0; lines-- {
		prev := strings.LastIndexByte(clean[:base-1], '\n') + 1
		if lines <= 0 && !refFullLine(strings.TrimSuffix(clean[prev:base-1], "\r")) {
			break // no segment goes on past base
		}
		base = prev
	}
	segs, open := refWrapSegments(clean[base:])
	if !open {
		return len(clean)
	}
	seg := segs[len(segs)-1]
	d, _ := decoded(seg, false)
	if n := longestProperPrefixSuffix(d, pats); n > 0 {
		return base + seg[len(seg)-n].st
	}
	return len(clean)
}

// refFullLine reports whether line (without its break) can begin a segment.
func refFullLine(line string) bool {
	return (len(line) == 64 || len(line) == 76) && strings.Trim(line, refB64) == ""
}
