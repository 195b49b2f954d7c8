package masking

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// checkAllSplits runs input through the Set in one Write, byte by byte,
// split at every single offset, at every pair of offsets (short inputs) and
// at random offsets, and fails unless every run gives want.
func checkAllSplits(t *testing.T, set *Set, input, want string) {
	t.Helper()
	check := func(chunks []string) {
		t.Helper()
		if got := stream(t, set, chunks...); got != want {
			t.Fatalf("writes %q:\n got %q\nwant %q", chunks, got, want)
		}
	}
	check([]string{input})
	check(strings.Split(input, ""))
	for i := 0; i <= len(input); i++ {
		check(splitAt(input, i))
	}
	if len(input) <= 48 {
		for i := 0; i <= len(input); i++ {
			for j := i; j <= len(input); j++ {
				check(splitAt(input, i, j))
			}
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(input)), 1))
	for range 50 {
		var cuts []int
		for i := 1; i < len(input); i++ {
			if r.IntN(4) == 0 {
				cuts = append(cuts, i)
			}
		}
		check(splitAt(input, cuts...))
	}
}

func TestMask(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 40) // 640 bytes
	for _, c := range []struct {
		name    string
		opts    Options
		secrets []string
		input   string
		want    string
	}{
		{"no secrets", Options{}, nil, "nothing to see", "nothing to see"},
		{"empty input", Options{}, []string{"abcd"}, "", ""},
		{"plain", Options{}, []string{"password123"}, "http://user:password123@127.0.0.1:8888", "http://user:***@127.0.0.1:8888"},
		{"whole input", Options{}, []string{"password123"}, "password123", "***"},
		{"repeated", Options{}, []string{"abcd"}, "abcd-abcd abcd", "***-*** ***"},
		{"case sensitive", Options{}, []string{"Password123"}, "password123", "password123"},
		{"custom mask", Options{Mask: "[MASKED]"}, []string{"secrets"}, "ssecrets!", "s[MASKED]!"},

		// Union of intervals.
		{"overlap", Options{}, []string{"bcde", "defg"}, "abcdefgh", "a***h"},
		{"overlap reversed order", Options{}, []string{"defg", "bcde"}, "abcdefgh", "a***h"},
		{"overlap chain", Options{}, []string{"abcd", "cdef", "efgh"}, "xabcdefghx", "x***x"},
		{"adjacent different", Options{}, []string{"abcd", "efgh"}, "abcdefgh", "***"},
		{"adjacent same", Options{}, []string{"abcd"}, "abcdabcdabcd", "***"},
		{"one byte apart", Options{}, []string{"abcd", "efgh"}, "abcdXefgh", "***X***"},
		{"nested", Options{}, []string{"abcdefgh", "cdef"}, "xabcdefghx xcdefx", "x***x x***x"},
		{"nested, outer fails", Options{}, []string{"abcdefgh", "cdef"}, "abcdefgX", "ab***gX"},
		{"gitlab partial overlap", Options{}, []string{"abcd", "cdef"}, "abcdef abcd cdef", "*** *** ***"},
		{"longer overlapping secret wins", Options{Mask: "[MASKED]"}, []string{"MASKED_VALUE", "MASKED_VALUE_OTHER"}, "K=MASKED_VALUE_OTHER", "K=[MASKED]"},

		// A pattern that is a prefix of another.
		{"prefix: long completes", Options{}, []string{"abcd", "abcdefgh"}, "abcdefgh", "***"},
		{"prefix: long fails late", Options{}, []string{"abcd", "abcdefgh"}, "abcdefgX", "***efgX"},
		{"prefix: long fails early", Options{}, []string{"abcd", "abcdefgh"}, "abcdeX", "***eX"},
		{"prefix: short only", Options{}, []string{"abcd", "abcdefgh"}, "abcX", "abcX"},
		{"suffix of another", Options{}, []string{"efgh", "abcdefgh"}, "abcdefgh efgh abcdefg", "*** *** abcdefg"},

		// Partial matches that fail.
		{"partial fails", Options{}, []string{"secret12"}, "secret1 secret12", "secret1 ***"},
		{"partial fails at end", Options{}, []string{"secret12"}, "secret1", "secret1"},
		{"false start", Options{}, []string{"aaab"}, "aaaab", "a***"},
		{"false start twice", Options{MinLength: 3}, []string{"aab"}, "aaab aab aaaab", "a*** *** aa***"},
		{"restart inside", Options{}, []string{"abcabd"}, "abcabcabd", "abc***"},

		// Repeated characters.
		{"aaaa in aaaaaaa", Options{}, []string{"aaaa"}, "aaaaaaa", "***"},
		{"aaaa in aaa", Options{}, []string{"aaaa"}, "xaaax", "xaaax"},
		{"aaaa runs", Options{}, []string{"aaaa"}, "aaaabaaaaaaaabaaa", "***b***baaa"},
		{"ab repeated", Options{}, []string{"abab"}, "abababa", "***a"},

		// Long secrets.
		{"long secret", Options{}, []string{long}, "<" + long + ">", "<***>"},
		{"long secret almost", Options{}, []string{long}, "<" + long[:len(long)-1] + ">", "<" + long[:len(long)-1] + ">"},

		// Minimum length and odd values.
		{"below min length", Options{}, []string{"abc"}, "abc", "abc"},
		{"min length 1", Options{MinLength: 1}, []string{"b"}, "abcb", "a***c***"},
		{"whitespace-only secret", Options{}, []string{"    "}, "a    b", "a    b"},
		{"binary secret", Options{}, []string{"\x01\xff\x02\xfe"}, "x\x01\xff\x02\xfey", "x***y"},
		{"secret with spaces", Options{}, []string{"secret value 1"}, "[secret value 1]", "[***]"},

		// Multi-line secrets: the value, its CRLF form, and each line.
		{"multi-line value", Options{}, []string{"line-one\nline-two\n}"}, "<line-one\nline-two\n}>", "<***>"},
		{"multi-line CRLF form", Options{}, []string{"line-one\nline-two\n}"}, "<line-one\r\nline-two\r\n}>", "<***>"},
		{"multi-line LF form of CRLF", Options{}, []string{"line-one\r\nline-two"}, "<line-one\nline-two>", "<***>"},
		{"multi-line single line", Options{}, []string{"line-one\nline-two\n}"}, "echo line-two", "echo ***"},
		{"multi-line lines joined", Options{}, []string{"line-one\nline-two"}, "line-one line-two", "***"}, // echo $S
		{"multi-line lines apart", Options{}, []string{"line-one\nline-two"}, "line-one, line-two", "***, ***"},
		{"multi-line trimmed lines", Options{}, []string{"{\n  \"key\": \"v4lue-x\",\n}"}, "key: \"key\": \"v4lue-x\",", "key: ***"},
		{"multi-line punctuation lines kept", Options{}, []string{"{\n  secret-line\n},\n"}, "{ }, x", "{ }, x"},
		{"multi-line short lines kept", Options{}, []string{"ab\ncdefgh"}, "ab, cdefgh", "ab, ***"},
		{"trailing newline", Options{}, []string{"tok-12345\n"}, "token=tok-12345 ok", "token=*** ok"},
		{"surrounding blanks", Options{}, []string{"  tok-12345 "}, "echo tok-12345", "echo ***"},
		{"bare CR", Options{}, []string{"first-line\rsecond-line"}, "second-line", "***"},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := newSet(t, c.opts, c.secrets...)
			// The expectation must agree with the one-shot definition.
			if ref := referenceMask(c.input, set.snapshot(), set.opts.Mask); ref != c.want {
				t.Fatalf("reference gives %q, want %q (bad test case?)", ref, c.want)
			}
			checkAllSplits(t, set, c.input, c.want)
		})
	}
}

func TestVariants(t *testing.T) {
	forms := func(secret string, minLen int) map[string]int {
		out := make(map[string]int)
		for _, p := range variants(secret, minLen, nil, true) {
			if _, dup := out[p.s]; dup {
				t.Fatalf("variants(%q) repeats %q", secret, p.s)
			}
			out[p.s] = int(p.hit)
		}
		return out
	}
	for _, c := range []struct {
		secret  string
		has     map[string]int // form: hit counter
		hasNot  []string
		minLen  int
		comment string
	}{
		{secret: "abcd", has: map[string]int{"abcd": hitSecret, "61626364": hitHex}, hasNot: []string{"YWJjZA"}, comment: "base64 cores of 4 bytes are too short"},
		{secret: "a\nbcdef", has: map[string]int{"a\nbcdef": hitSecret, "a\r\nbcdef": hitSecret, "bcdef": hitSecret, "a bcdef": hitSecret, `a\nbcdef`: hitJSON}, hasNot: []string{"a"}},
		{secret: "line-1\r\nline-2\r\n", has: map[string]int{"line-1\nline-2\n": hitSecret, "line-1": hitSecret, "line-2": hitSecret, "line-1 line-2": hitSecret}},
		{secret: "{\n\"password\": \"value\"\n}", has: map[string]int{`"password": "value"`: hitSecret, "value": hitSecret, `{ "password": "value" }`: hitSecret}, hasNot: []string{"{", "}", "password"}, comment: "JSON: the leaves that are secret material, not braces"},
		{secret: "{\n\"name\": \"value\",\n\"data\": \"f871a2b3c4d5e6f70819\"\n}", has: map[string]int{"f871a2b3c4d5e6f70819": hitSecret, `{ "name": "value", "data": "f871a2b3c4d5e6f70819" }`: hitSecret}, hasNot: []string{"value", `"name": "value",`, "name"}, comment: "JSON: structure is not registered, generated values are"},
		{secret: "apiVersion: v1\nkind: Config\nusers:\n- name: prod\n  user:\n    token: s3cr3t-t0ken\n", has: map[string]int{"s3cr3t-t0ken": hitSecret, "token: s3cr3t-t0ken": hitSecret, "czNjcjN0LXQwa2Vu": hitBase64}, hasNot: []string{"apiVersion: v1", "kind: Config", "name: prod", "prod", "users:"}, comment: "YAML: the values of keys that name secrets, with their forms"},
		{secret: " padded ", has: map[string]int{"padded": hitSecret, "cGFkZGVk": hitBase64}},
		{secret: "----\nabc\n----", hasNot: []string{"----", "abc"}, comment: "punctuation lines; abc is short"},
		{secret: "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", has: map[string]int{"MIIEvQIBADANBg": hitSecret}, hasNot: []string{"-----BEGIN PRIVATE KEY-----"}, comment: "PEM armor lines"},
		{secret: `"quoted-secret"`, has: map[string]int{"quoted-secret": hitSecret, `\"quoted-secret\"`: hitJSON}},
		{secret: "Password123!", has: map[string]int{"UGFzc3dvcmQxMjMh": hitBase64, "Bhc3N3b3JkMTIzI": hitBase64, "QYXNzd29yZDEyMy": hitBase64, "Password123%21": hitURL, `Password123\!`: hitShell}},
		{secret: "Pass<w>'o\"rd &x", has: map[string]int{
			`Pass\u003cw\u003e'o\"rd \u0026x`:     hitJSON, // Go's encoding/json
			`Pass<w>'o\"rd &x`:                    hitJSON, // minimal
			"Pass%3Cw%3E%27o%22rd%20%26x":         hitURL,
			"Pass%3cw%3e%27o%22rd%20%26x":         hitURL,
			"Pass%3Cw%3E%27o%22rd+%26x":           hitURL,
			"Pass&lt;w&gt;&apos;o&quot;rd &amp;x": hitXML,
			"Pass&lt;w&gt;&#39;o&#34;rd &amp;x":   hitXML,
			`Pass<w>''o"rd &x`:                    hitShell,
			`Pass<w>'\''o"rd &x`:                  hitShell,
			`Pass\<w\>\'o\"rd\ \&x`:               hitShell,
			"506173733c773e276f227264202678":      hitHex,
			"506173733C773E276F227264202678":      hitHex,
			"Pass<w>'o\"rd &":                     hitSecret, // PowerShell section before the last '&'
		}},
		{secret: "héllo wörld", has: map[string]int{`h\u00e9llo w\u00f6rld`: hitJSON, "h%C3%A9llo%20w%C3%B6rld": hitURL}},
		{secret: "x\x1b[31my-secret", has: map[string]int{"xy-secret": hitSecret}, hasNot: []string{"x\x1b[31my-secret"}, comment: "matched without escapes"},
		{secret: "abc", minLen: 1, has: map[string]int{"abc": hitSecret}, hasNot: []string{"616263"}, comment: "encodings need 8 bytes"},
		{secret: "   ", minLen: 1, has: map[string]int{"%20%20%20": hitURL}, hasNot: []string{"   ", "+++"}, comment: "white space only: escaped forms"},
	} {
		minLen := c.minLen
		if minLen == 0 {
			minLen = 4
		}
		got := forms(c.secret, minLen)
		for f, hit := range c.has {
			if h, ok := got[f]; !ok || h != hit {
				t.Errorf("variants(%q) (%s): want %q as hit %d, got %v (%d)", c.secret, c.comment, f, hit, ok, h)
			}
		}
		for _, f := range c.hasNot {
			if _, ok := got[f]; ok {
				t.Errorf("variants(%q) (%s): has %q", c.secret, c.comment, f)
			}
		}
		for f := range got {
			if len(f) < minLen {
				t.Errorf("variants(%q): %q is shorter than %d", c.secret, f, minLen)
			}
		}
	}
}

// recorder records each Write it receives.
type recorder struct {
	writes []string
	err    error
	short  bool
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, string(p))
	if r.short {
		return len(p) - 1, nil
	}
	return len(p), nil
}

func (r *recorder) String() string { return strings.Join(r.writes, "") }

func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if n, err := io.WriteString(w, s); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func TestReleasesPromptly(t *testing.T) {
	set := newSet(t, Options{}, "supersecret")
	var rec recorder
	w := set.NewWriter(&rec)
	step := func(in, wantOut string, wantHeld int) {
		t.Helper()
		before := len(rec.writes)
		mustWrite(t, w, in)
		got := strings.Join(rec.writes[before:], "")
		if got != wantOut || w.Buffered() != wantHeld {
			t.Fatalf("Write(%q): passed on %q holding %d, want %q holding %d", in, got, w.Buffered(), wantOut, wantHeld)
		}
		if len(rec.writes)-before > 1 {
			t.Fatalf("Write(%q) made %d downstream writes, want at most 1", in, len(rec.writes)-before)
		}
	}
	step("hello world\n", "hello world\n", 0) // no secret material: out at once
	step("no newline yet", "no newline yet", 0)
	step(" token: super", " token: ", 5) // "super" may begin the secret
	step("se", "", 7)                    // still may: no downstream write at all
	step("man\n", "superseman\n", 0)     // the match failed: released
	step("supersecret", "***", 0)        // complete: masked at once
	step("x supersecre", "x ", 10)       // the bound: longest pattern - 1
	step("t", "***", 0)                  //
	step("s", "", 1)                     // "s" may begin the secret again
	if err := w.Close(); err != nil {    // Close releases it
		t.Fatal(err)
	}
	if got, want := rec.String(), "hello world\nno newline yet token: superseman\n***x ***s"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	if w.Redactions() != 2 || set.Redactions() != 2 {
		t.Fatalf("Redactions() = %d, Set %d; want 2", w.Redactions(), set.Redactions())
	}
}

func TestMaskedRunExtendsWithoutHolding(t *testing.T) {
	// Once a mask token is out, a later match that overlaps or touches its
	// run extends it without a second token, and nothing is held for that.
	set := newSet(t, Options{}, "abcdef", "efgh12", "123456")
	var rec recorder
	w := set.NewWriter(&rec)
	mustWrite(t, w, "<abcdef")
	if rec.String() != "<***" || w.Buffered() != 0 {
		t.Fatalf("after the first secret: %q, holding %d", rec.String(), w.Buffered())
	}
	mustWrite(t, w, "gh12") // overlaps: "ef" was already covered
	mustWrite(t, w, "3456") // touches
	mustWrite(t, w, ">")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.String() != "<***>" || w.Redactions() != 1 {
		t.Fatalf("output %q with %d redactions, want \"<***>\" with 1", rec.String(), w.Redactions())
	}
}

func TestCloseFlushesHeld(t *testing.T) {
	set := newSet(t, Options{}, "supersecret", "super-secret-2")
	var rec recorder
	w := set.NewWriter(&rec)
	mustWrite(t, w, "log: supersec")
	if w.Buffered() != len("supersec") {
		t.Fatalf("Buffered() = %d", w.Buffered())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rec.String(); got != "log: supersec" {
		t.Fatalf("got %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
}

func TestCloseAfterCompletedMatchAtEnd(t *testing.T) {
	// A match at the very end of the stream, and one pending behind a
	// longer partial match, are both masked by Close.
	set := newSet(t, Options{}, "abcd", "abcdefgh", "cdefghij")
	for in, want := range map[string]string{
		"xabcd":    "x***",
		"xabcdef":  "x***ef",
		"xabcdefg": "x***efg",
		"abcdefgh": "***",
		"ab cdefg": "ab cdefg",
	} {
		if got := stream(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestFlush(t *testing.T) {
	set := newSet(t, Options{}, "supersecret")
	var rec recorder
	w := set.NewWriter(&rec)
	mustWrite(t, w, "a supers")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec.String() != "a supers" || w.Buffered() != 0 {
		t.Fatalf("after Flush: %q holding %d", rec.String(), w.Buffered())
	}
	// Flush ends the partial match: the rest of a split secret is not a
	// match any more, but a whole one still is.
	mustWrite(t, w, "ecret supersecret")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.String(), "a supersecret ***"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAddMidStream(t *testing.T) {
	type step struct {
		write string
		add   []string
	}
	for _, c := range []struct {
		name  string
		start []string
		steps []step
		want  string
	}{
		{
			name:  "applies to later bytes",
			steps: []step{{write: "before secret-one "}, {add: []string{"secret-one"}}, {write: "after secret-one"}},
			want:  "before secret-one after ***",
		},
		{
			name:  "already released bytes are not retracted",
			steps: []step{{write: "tok"}, {add: []string{"token-1"}}, {write: "en-1 token-1"}},
			want:  "token-1 ***",
		},
		{
			name:  "held bytes are rescanned",
			start: []string{"abcdefgh"},
			steps: []step{{write: "xx abcd"}, {add: []string{"cdXY12"}}, {write: "XY12 zz"}},
			want:  "xx ab*** zz",
		},
		{
			name:  "match inside held bytes",
			start: []string{"abcdefgh"},
			steps: []step{{write: "abcdef"}, {add: []string{"bcde"}}},
			want:  "a***f",
		},
		{
			name:  "extends an emitted mask",
			start: []string{"abcd", "abcdefgh"},
			steps: []step{{write: "abcdef"}, {add: []string{"cdefXY"}}, {write: "XY!"}},
			want:  "***!",
		},
		{
			name:  "several adds before a write",
			steps: []step{{add: []string{"one-secret"}}, {add: []string{"two-secret"}}, {write: "one-secret two-secret"}},
			want:  "*** ***",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := newSet(t, Options{}, c.start...)
			var out bytes.Buffer
			w := set.NewWriter(&out)
			for _, s := range c.steps {
				if s.add != nil {
					set.Add(s.add...)
				} else {
					mustWrite(t, w, s.write)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Fatalf("got %q, want %q", out.String(), c.want)
			}
		})
	}
}

func TestAddWarnings(t *testing.T) {
	set := NewSet(Options{})
	secrets := []string{"ok-secret", "abc", "", "   \t ", "ok-secret", "other-secret"}
	if skipped := set.Add(secrets...); skipped != 3 {
		t.Fatalf("Add skipped %d, want 3", skipped)
	}
	if set.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", set.Len())
	}
	ws := set.Warnings()
	if len(ws) != 3 || ws[0].Index != 1 || ws[1].Index != 2 || ws[2].Index != 3 {
		t.Fatalf("Warnings() = %v", ws)
	}
	for _, w := range ws {
		if strings.Contains(w.String(), "abc") || w.Reason == "" {
			t.Fatalf("warning %q", w)
		}
	}
	if !strings.Contains(ws[0].String(), "minimum length (4 bytes)") {
		t.Fatalf("warning %q", ws[0])
	}
}

func TestSizeBudget(t *testing.T) {
	set := NewSet(Options{})
	set.budget = 4000
	huge := strings.Repeat("0123456789abcdef", 300) // 4800 bytes
	if skipped := set.Add(huge); skipped != 1 {
		t.Fatalf("skipped %d, want 1", skipped)
	}
	if set.Len() != 0 || len(set.Warnings()) != 1 || !strings.Contains(set.Warnings()[0].Reason, "budget") {
		t.Fatalf("Len %d, warnings %v", set.Len(), set.Warnings())
	}
	// Its raw value fits, but not all its forms.
	if skipped := set.Add(huge[:1500]); skipped != 1 || !strings.Contains(set.Warnings()[1].Reason, "partly") {
		t.Fatalf("skipped %d, warnings %v", skipped, set.Warnings())
	}
	if set.Add("still-fits") != 0 || stream(t, set, "a still-fits b") != "a *** b" {
		t.Fatal("a small secret after the budget was hit")
	}
	if set.Add(strings.Repeat("x", MaxSecretLength+1)) != 1 || !strings.Contains(set.Warnings()[2].Reason, "maximum length") {
		t.Fatalf("warnings %v", set.Warnings())
	}
}

func TestRebuildIsLazy(t *testing.T) {
	set := NewSet(Options{})
	w := set.NewWriter(io.Discard)
	for i := range 200 {
		set.Add(fmt.Sprintf("secret-%03d", i))
	}
	if set.cur.Load().gen != 0 {
		t.Fatal("Add built a matcher")
	}
	mustWrite(t, w, "x")
	if m := set.cur.Load(); m.gen != set.gen.Load() || len(m.pats) != set.Patterns() {
		t.Fatalf("one build expected after the write, have gen %d of %d", m.gen, set.gen.Load())
	}
}

func TestDownstreamErrors(t *testing.T) {
	set := newSet(t, Options{}, "supersecret")
	boom := errors.New("boom")
	rec := &recorder{err: boom}
	w := set.NewWriter(rec)
	if n, err := w.Write([]byte("hello")); n != 0 || !errors.Is(err, boom) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	rec.err = nil
	if _, err := w.Write([]byte("hello")); !errors.Is(err, boom) {
		t.Fatalf("error is not sticky: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v", err)
	}

	w = set.NewWriter(&recorder{short: true})
	if _, err := w.Write([]byte("hello")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: %v", err)
	}
}

func TestNoDownstreamWriteWithoutOutput(t *testing.T) {
	set := newSet(t, Options{}, "supersecret")
	var rec recorder
	w := set.NewWriter(&rec)
	mustWrite(t, w, "")
	mustWrite(t, w, "super")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || rec.writes[0] != "super" {
		t.Fatalf("downstream writes %q", rec.writes)
	}
}

func TestConcurrentWritersAndAdds(t *testing.T) {
	set := newSet(t, Options{}, "initial-secret")
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	writers := []*Writer{set.NewWriter(&outs[0]), set.NewWriter(&outs[1])}
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 300 {
				fmt.Fprintf(w, "stream %d line %d: initial-secret late-secret-%d\n", i, j, j%50)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range 50 {
			set.Add(fmt.Sprintf("late-secret-%d", j))
			_ = set.Len()
			_ = writers[0].Redactions() + set.Redactions()
		}
	}()
	wg.Wait()
	total := 0
	for i, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(outs[i].String(), "initial-secret") {
			t.Fatalf("stream %d leaked a secret registered before it started", i)
		}
		total += w.Redactions()
	}
	if total != set.Redactions() || total < 600 {
		t.Fatalf("writers count %d redactions, the Set %d", total, set.Redactions())
	}
	// Everything written after the last Add is fully masked.
	var out bytes.Buffer
	w := set.NewWriter(&out)
	fmt.Fprintf(w, "late-secret-49 late-secret-7\n")
	w.Close()
	if out.String() != "*** ***\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestSteadyStateWriteDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	secrets := genSecrets(r, 1000)
	log := genLog(r, 1<<20, 4<<10, secrets)
	set := NewSet(Options{})
	set.Add(secrets...)
	w := set.NewWriter(io.Discard)
	chunk := 0
	write := func() {
		off := (chunk * (64 << 10)) % len(log)
		chunk++
		if _, err := w.Write(log[off : off+64<<10]); err != nil {
			t.Fatal(err)
		}
	}
	for range 32 { // warm up: build the matcher, grow the buffers
		write()
	}
	if a := testing.AllocsPerRun(50, write); a != 0 {
		t.Fatalf("%.1f allocations per Write", a)
	}
	if w.Redactions() == 0 {
		t.Fatal("the benchmark log holds no secrets")
	}
}

func TestPendingIntervalsStayBounded(t *testing.T) {
	// "abcd-" repeated keeps a partial match of the long secret pending,
	// so there are always pending "abcd" intervals behind it; the list must
	// not grow with the stream.
	set := newSet(t, Options{}, "abcd", strings.Repeat("abcd-", 5)+"Q")
	var out bytes.Buffer
	w := set.NewWriter(&out)
	for range 100 {
		mustWrite(t, w, strings.Repeat("abcd-", 1000))
		if len(w.iv)-w.head > 16 || cap(w.iv) > 4096 {
			t.Fatalf("%d intervals pending, %d kept", len(w.iv)-w.head, cap(w.iv))
		}
	}
	w.Close()
	if out.String() != strings.Repeat("***-", 100000) {
		t.Fatalf("got %q...", out.String()[:min(40, out.Len())])
	}
}
