package masking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// A vector is a test case of the GitHub runner, Azure Pipelines agent or
// gitlab-runner, collected from their masking tests into
// testdata/masking-vectors.json.
type vector struct {
	Source, Note, Input, Expected, Mask, Kind string
	Secrets                                   []string
	Writes                                    []string
	MinSecretLength                           *int     `json:"min_secret_length"`
	TokenPrefixes                             []string `json:"token_prefixes"`
	CustomEncoders                            []string `json:"custom_encoders"`
	AddMaskLines                              []string `json:"add_mask_lines"`
	Regexes                                   []string
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/masking-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestVectors checks the anchors' cases: nothing an anchor masks leaks
// through chaperone (the anchors differ on cosmetics, such as adjacent
// occurrences masked once or twice, so outputs are not compared), for the
// case's own write boundaries, every single split and byte-at-a-time
// writes. The output must also equal the reference.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) != 130 {
		t.Fatalf("%d vectors, want 130", len(vs))
	}
	for i, v := range vs {
		t.Run(fmt.Sprintf("%03d", i), func(t *testing.T) {
			set, opts := vectorSet(t, v)
			var prelude bytes.Buffer
			if v.AddMaskLines != nil {
				// Registered the way the job registered them.
				w := set.NewWriter(&prelude, WithAddMask(AddMaskRedact))
				for _, l := range v.AddMaskLines {
					mustWrite(t, w, l+"\n")
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(prelude.String(), "abc") {
					t.Fatalf("add-mask lines leak their values: %q", prelude.String())
				}
			}
			want := referenceSet(set, v.Input)
			splits := [][]string{{v.Input}}
			if v.Writes != nil {
				if strings.Join(v.Writes, "") != v.Input {
					t.Fatal("writes do not add up to the input")
				}
				splits = append(splits, v.Writes)
			}
			if len(v.Input) <= 300 {
				splits = append(splits, strings.Split(v.Input, ""))
				for j := 1; j < len(v.Input); j++ {
					splits = append(splits, splitAt(v.Input, j))
				}
			}
			for _, sp := range splits {
				if got := stream(t, set, sp...); got != want {
					t.Fatalf("%s\nwrites %q\n got %q\nwant %q (reference)", v.Source, sp, got, want)
				}
			}
			ours := referenceRawCover(set, v.Input)
			if !anchorWithin(v.Input, v.Expected, v.Mask, ours) {
				t.Fatalf("%s (%s)\nopts %+v\ninput    %q\nanchor   %q\nchaperone %q\nsomething the anchor masks is visible",
					v.Source, v.Note, opts, v.Input, v.Expected, want)
			}
		})
	}
}

// vectorSet configures a Set as the anchor was configured.
func vectorSet(t *testing.T, v vector) (*Set, Options) {
	t.Helper()
	// The upstream maskers have no minimum unless the case sets one.
	opts := Options{Mask: v.Mask, MinLength: 1, TokenPrefixes: v.TokenPrefixes}
	if v.MinSecretLength != nil && *v.MinSecretLength > 0 {
		opts.MinLength = *v.MinSecretLength
	}
	replace := regexp.MustCompile(`^replace '(.*)' with '(.*)'$`)
	for _, e := range v.CustomEncoders {
		m := replace.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("custom encoder %q", e)
		}
		opts.Encoders = append(opts.Encoders, func(s string) string { return strings.ReplaceAll(s, m[1], m[2]) })
	}
	// Regex secrets of the form literal.* are prefix rules that mask the
	// rest of the line, prefix included.
	for _, re := range v.Regexes {
		lit, ok := strings.CutSuffix(re, ".*")
		if !ok || regexp.QuoteMeta(lit) != lit {
			t.Fatalf("regex %q is not literal.*", re)
		}
		opts.Rules = append(opts.Rules, Rule{ID: "regex", Prefix: lit, MaskPrefix: true, Body: BodyLine})
	}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	set := NewSet(opts)
	if v.AddMaskLines == nil {
		set.Add(v.Secrets...)
	}
	return set, opts
}

// anchorWithin reports whether expected can be read as input with some
// runs replaced by mask, each run made only of bytes in covered: then
// nothing the anchor masks is visible in our output. (A run may be empty:
// gitlab-runner masks an empty parameter value.)
func anchorWithin(input, expected, mask string, covered []bool) bool {
	type state struct{ i, j int }
	seen := map[state]bool{}
	stack := []state{{0, 0}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		if s.i == len(input) && s.j == len(expected) {
			return true
		}
		if s.i < len(input) && s.j < len(expected) && input[s.i] == expected[s.j] {
			stack = append(stack, state{s.i + 1, s.j + 1})
		}
		if strings.HasPrefix(expected[s.j:], mask) {
			for k := s.i; ; k++ {
				stack = append(stack, state{k, s.j + len(mask)})
				if k == len(input) || !covered[k] {
					break
				}
			}
		}
	}
	return false
}

func TestAnchorWithin(t *testing.T) {
	cov := func(s string) []bool {
		out := make([]bool, len(s))
		for i := range s {
			out[i] = s[i] == '1'
		}
		return out
	}
	for _, c := range []struct {
		input, expected, cov string
		want                 bool
	}{
		{"abcdef", "a#f", "011110", true},
		{"abcdef", "a#f", "011100", false}, // e leaks
		{"abcdef", "a#ef", "011100", true},
		{"abcdef", "##", "111111", true},
		{"x=", "x=#", "00", true},   // an empty masked value
		{"aab", "a#", "010", false}, // b leaks
		{"aab", "#ab", "100", true},
		{"aab", "a#b", "010", true},
		{"aab", "a#b", "100", false}, // the anchor masked the second a
	} {
		if got := anchorWithin(c.input, c.expected, "#", cov(c.cov)); got != c.want {
			t.Errorf("anchorWithin(%q, %q, %s) = %v", c.input, c.expected, c.cov, got)
		}
	}
}
