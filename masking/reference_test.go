package masking

import (
	"bytes"
	"strings"
	"testing"
)

// This file holds the one-shot reference the streaming Writer is checked
// against, and test helpers shared by the other tests.

// referenceMask is the naive definition of masking: find every occurrence
// of every pattern, mark the bytes they cover, and replace each maximal run
// of marked bytes (which merges overlapping and adjacent occurrences) with
// one mask token.
func referenceMask(input string, patterns []string, mask string) string {
	return render(input, cover(input, patterns, 0, nil), mask)
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
// a generation j-1 pattern, looking no further back than start[j-1].
func referenceGenerations(input string, gens []generation, mask string) string {
	covered := make([]bool, len(input))
	start := 0
	var prev []string
	for j, g := range gens {
		if j > 0 {
			start = g.at - longestSuffixPrefix(input[start:g.at], prev)
		}
		cover(input, newPatterns(g.patterns, prev), start, covered)
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
// a proper prefix of a pattern.
func longestProperPrefixSuffix(s string, patterns []string) int {
	best := 0
	for _, p := range patterns {
		for l := min(len(s), len(p)-1); l > best; l-- {
			if s[len(s)-l:] == p[:l] {
				best = l
				break
			}
		}
	}
	return best
}

// snapshot returns the Set's patterns.
func (s *Set) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.patterns...)
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
// match: no more than the longest suffix of the input that is a proper
// prefix of a pattern (so at most the longest pattern minus one byte).
func checkHoldback(t testing.TB, set *Set, w *Writer, written string) {
	t.Helper()
	held := w.Buffered()
	if held == 0 {
		return
	}
	pats := set.snapshot()
	maxLen := 0
	for _, p := range pats {
		maxLen = max(maxLen, len(p))
	}
	if held > maxLen-1 {
		t.Fatalf("after %q: %d bytes held, longest pattern is %d", written, held, maxLen)
	}
	if l := longestProperPrefixSuffix(written, pats); held > l {
		t.Fatalf("after %q: %d bytes held, but the longest pending partial match is %d bytes", written, held, l)
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
}
