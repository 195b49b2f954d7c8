package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The leak classes, edge cases and regression list gathered from how the
// GitHub and GitLab runners mask, each with its write splits: every
// output is also compared with the reference.

// checkSplits streams input through set whole, byte by byte, at every
// single split and at random splits, and returns the output after checking
// they all equal the reference.
func checkSplits(t *testing.T, set *Set, input string) string {
	t.Helper()
	want := referenceSet(set, input)
	check := func(chunks []string) {
		t.Helper()
		if got := stream(t, set, chunks...); got != want {
			t.Fatalf("writes %q:\n got %q\nwant %q", chunks, got, want)
		}
	}
	check([]string{input})
	if len(input) <= 400 {
		check(strings.Split(input, ""))
		for i := 1; i < len(input); i++ {
			check(splitAt(input, i))
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(input)), 3))
	for range 10 {
		var cuts []int
		for i := 1; i < len(input); i++ {
			if r.IntN(max(2, len(input)/20)) == 0 {
				cuts = append(cuts, i)
			}
		}
		check(splitAt(input, cuts...))
	}
	return want
}

// §7.3 and §2.2: the stacked masker's defects.
func TestRegressionGitLabStacking(t *testing.T) {
	for _, c := range []struct {
		secrets []string
		writes  []string
		want    string
	}{
		{[]string{"aab"}, []string{"aa", "ab"}, "a#"},
		{[]string{"000123456"}, []string{"00", "00123456"}, "0#"},
		{[]string{"xxSECRET"}, []string{"xx", "xSECRET"}, "x#"},
		{[]string{"abcd", "cdef"}, []string{"abcdef"}, "#"},
		{[]string{"def", "bcd"}, []string{"abcdefg"}, "a#g"},
		{[]string{"secrets"}, []string{"secretssecrets"}, "#"},
		{[]string{"TEST1val", "TEST1val111dd"}, []string{"x=TEST1val111dd"}, "x=#"},
	} {
		set := newSet(t, Options{Mask: "#", MinLength: 1}, c.secrets...)
		if got := stream(t, set, c.writes...); got != c.want {
			t.Errorf("%q in %q: got %q, want %q", c.secrets, c.writes, got, c.want)
		}
		checkSplits(t, set, strings.Join(c.writes, ""))
	}
}

// §4, §5, §7.3: `echo $S | base64` for secret lengths 8-40 and prefixes
// 0-6 (any alignment), with nothing, a newline, or more data after the
// secret, in both alphabets, padded or not: every character of the
// encoding that carries only secret bits is masked, and so is the one
// after them that carries the secret's last bits.
func TestBase64AnyAlignment(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-./:;<=>?@^_~"
	combos := 0
	for L := 8; L <= 40; L++ {
		secret := make([]byte, L)
		for i := range secret {
			secret[i] = chars[r.IntN(len(chars))]
		}
		set := NewSet(Options{Mask: "#", Detectors: []string{}})
		set.Add(string(secret))
		for p := 0; p <= 6; p++ {
			for _, suffix := range []string{"", "\n", "x", "\nmore data after it"} {
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
					combos++
					data := append(append([]byte("u:xyzw"[:p]), secret...), suffix...)
					e := enc.EncodeToString(data)
					input := "Authorization: Basic " + e + "\n"
					cov := referenceRawCover(set, input)
					off := len("Authorization: Basic ")
					first, last := (8*p+5)/6, (8*(p+L)+5)/6 // the characters with secret bits
					for c := first; c < last; c++ {
						if !cov[off+c] {
							t.Fatalf("L=%d prefix=%d suffix=%q %v: %q: character %d is visible", L, p, suffix, enc == base64.StdEncoding, e, c)
						}
					}
				}
			}
			if L%8 == 0 { // splits for some of them
				data := append([]byte("u:xyzw"[:p]), secret...)
				checkSplits(t, set, "echo: "+base64.StdEncoding.EncodeToString(append(data, '\n'))+"\n")
			}
		}
	}
	if combos != 33*7*4*4 {
		t.Fatalf("%d combinations", combos)
	}
}

// §4: a JSON secret (a service account key) echoed unquoted loses its
// quotes and its whitespace collapses; read with jq its values appear on
// their own; in both, every string value that is secret material is
// masked (the key, each line of it), while its structure (the type, the
// project id, the e-mail address, the key's id) is not registered, nor
// are "{", "}".
func TestJSONSecretEchoed(t *testing.T) {
	key := map[string]string{
		"type":           "service_account",
		"project_id":     "acme-prod-42",
		"private_key_id": "f871a2b3c4d5e6f708192a3b4c5d6e7f80912345",
		"private_key":    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n",
		"client_email":   "ci@acme-prod-42.iam.gserviceaccount.com",
	}
	material := []string{"private_key"}
	doc, _ := json.MarshalIndent(key, "", "  ")
	secret := string(doc)
	set := newSet(t, Options{Mask: "#"}, secret)
	unquoted := strings.Join(strings.Fields(strings.ReplaceAll(secret, `"`, "")), " ") // echo ${{ secrets.KEY }}
	jq := key["private_key"] + "\n"                                                    // jq -r .private_key
	for _, out := range []string{secret + "\n", unquoted + "\n", jq, "{ hello world }\n"} {
		got := checkSplits(t, set, out)
		for _, name := range material {
			for _, line := range strings.Split(key[name], "\n") {
				if len(line) >= 8 && !isArmor(line) && strings.Contains(got, line) {
					t.Errorf("value of %s (%q) survives in %q", name, line, got)
				}
			}
		}
	}
	if got := set.MaskString("{ hello world }"); got != "{ hello world }" {
		t.Errorf("braces are masked: %q", got)
	}
	for _, name := range []string{"type", "project_id", "client_email", "private_key_id"} {
		line := "gcloud: " + key[name] + "\n"
		if got := set.MaskString(line); got != line {
			t.Errorf("the %s of the key is masked in other output: %q", name, got)
		}
	}
}

// §4, §5: escaped and quoted output: shell quoting (`'\”`, printf %q's
// `\[` and `\$`), JSON (also Go's \u003c), URL (both hex cases, '+'), XML,
// hex; all with splits.
func TestEscapedForms(t *testing.T) {
	secret := `My[value]$x'y"<&>` + "é ok"
	set := newSet(t, Options{Mask: "#"}, secret)
	forms := []string{
		`My\[value\]\$x\'y\"\<\&\>é\ ok`,                     // printf %q
		`'My[value]$x'\''y"<&>é ok'`,                         // bash xtrace
		`My[value]$x''y"<&>é ok`,                             // SQL, YAML, PowerShell
		`My[value]$x'y\"<&>é ok`,                             // a command-line argument
		`My[value]$x'y\"\u003c\u0026\u003eé ok`,              // Go's encoding/json
		`My[value]$x'y\"<&>\u00e9 ok`,                        // Python's json.dumps
		"My%5Bvalue%5D%24x%27y%22%3C%26%3E%C3%A9%20ok",       // encodeURIComponent-ish, upper
		"My%5bvalue%5d%24x%27y%22%3c%26%3e%c3%a9%20ok",       // lower
		"My%5Bvalue%5D%24x%27y%22%3C%26%3E%C3%A9+ok",         // form
		"My[value]$x&apos;y&quot;&lt;&amp;&gt;é ok",          // XML
		"My[value]$x&#39;y&#34;&lt;&amp;&gt;é ok",            // html.EscapeString
		fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), // hex
	}
	for _, f := range forms {
		want := "log: # end\n"
		if f[0] == '\'' {
			want = "log: '#' end\n" // bash's own quotes stay
		}
		if got := checkSplits(t, set, "log: "+f+" end\n"); got != want {
			t.Errorf("%q: got %q", f, got)
		}
	}
}

// §5: a secret longer than 4 KiB (gitlab-runner once revealed the tail of
// those), split anywhere.
func TestLongSecret(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	b := make([]byte, 20<<10)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	secret := string(b)
	set := newSet(t, Options{Mask: "#"}, secret)
	in := "start " + secret + " end " + secret[:len(secret)-1] + "!"
	if got := checkSplits(t, set, in); got != "start # end "+secret[:len(secret)-1]+"!" {
		t.Fatalf("got %q…", got[:40])
	}
}

// §5: line endings: CRLF and LF forms of a multi-line value, bare CR, and a
// secret at the very end of the stream with no newline.
func TestLineEndings(t *testing.T) {
	set := newSet(t, Options{Mask: "#"}, "first-line\nsecond-line")
	for in, want := range map[string]string{
		"a first-line\r\nsecond-line b": "a # b",
		"a first-line\nsecond-line b":   "a # b",
		"x\rsecond-line":                "x\r#",
		"at the end: first-line":        "at the end: #",
	} {
		if got := checkSplits(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// §5: a line without secret material leaves the masker in the same Write
// that brought it, detectors and escape sequences included.
func TestLinesLeaveAtOnce(t *testing.T) {
	set := newSet(t, Options{}, "supersecret-token")
	var rec recorder
	w := set.NewWriter(&rec)
	lines := []string{
		"\x1b[32m--- PASS:\x1b[0m TestThing (0.01s)\n",
		"GET https://registry.example.com/v2/acme/blobs/sha256:ab12 200\n",
		`{"level":"info","msg":"pushed","url":"https://s3.example.com/b?X-Amz-Date=2024"}` + "\n",
		"\r[=====>    ] 50%\x1b[K",
		"\n",
		"token: glpat-\n", // a prefix with no token after it
		"AKIA alone\n",
	}
	for _, l := range lines {
		before := len(rec.writes)
		mustWrite(t, w, l)
		if got := strings.Join(rec.writes[before:], ""); got != l || w.Buffered() != 0 {
			t.Fatalf("Write(%q) passed on %q, holding %d", l, got, w.Buffered())
		}
	}
}

// §4: the anchors cap or drop token prefixes (gitlab-runner keeps 15,
// dropping its longest defaults); here every one applies.
func TestManyTokenPrefixes(t *testing.T) {
	var prefixes []string
	for i := range 40 {
		prefixes = append(prefixes, fmt.Sprintf("custom%02d-", i))
	}
	set := newSet(t, Options{Mask: "#", TokenPrefixes: prefixes})
	var in, want strings.Builder
	for _, p := range append(prefixes, "glpat-", "glagent-", "glsoat-", "glffct-", "_gitlab_session=", "ghp_", "github_pat_", "xoxb-", "npm_", "hvs.") {
		in.WriteString(p + "s3cr3tT0ken ")
		want.WriteString(p + "# ")
	}
	if got := checkSplits(t, set, in.String()); got != want.String() {
		t.Fatalf("got %q", got)
	}
	set = newSet(t, Options{Mask: "#", TokenPrefixes: prefixes})
	stream(t, set, splitAt(in.String(), 100, 200, 300)...)
	if h := set.Hits(); h["token-prefix"] != 40 || h["gitlab-token"] != 5 || h["github-token"] != 2 {
		t.Fatalf("hits %v", h)
	}
}

// §4: over-masking of common words: short values are not registered, and
// the warning does not show them.
func TestShortValuesWarn(t *testing.T) {
	set := NewSet(Options{})
	if set.Add("dev", "docker-token") != 1 {
		t.Fatal("short value registered")
	}
	if got := set.MaskString("development docker-token"); got != "development ***" {
		t.Fatalf("got %q", got)
	}
	if w := set.Warnings(); len(w) != 1 || strings.Contains(w[0].String(), "dev") {
		t.Fatalf("warnings %v", w)
	}
}

// §4: a secret registered mid-stream (add-mask, a refreshed grant) applies
// to every byte not yet passed on: those held back, and a masked run that
// is still open.
func TestAddedSecretAppliesToHeldBytes(t *testing.T) {
	set := newSet(t, Options{Mask: "#"}, "prefix-of-something-long")
	var out bytes.Buffer
	w := set.NewWriter(&out)
	mustWrite(t, w, "x prefix-of-som") // held: may be the long secret
	set.Add("of-some-new-secret")
	mustWrite(t, w, "e-new-secret y")
	w.Close()
	if out.String() != "x prefix-# y" {
		t.Fatalf("got %q", out.String())
	}
}

// §5, §6.5: a secret with colour changes inside (PowerShell colours a
// character; a diff highlights a word) is masked, and the escape sequences
// inside it are kept after the mask, so the colours after it are right.
func TestColouredSecret(t *testing.T) {
	secret := "s3cr3t-t0ken-value"
	set := newSet(t, Options{Mask: "#"}, secret)
	for in, want := range map[string]string{
		"a \x1b[31ms\x1b[0m3cr3t-t0ken-value b":                  "a \x1b[31m#\x1b[0m b",
		"a s3cr3t-\x1b[1;33mt0ken\x1b[0m-value b":                "a #\x1b[1;33m\x1b[0m b",
		"\x1b[32ms\x1b[32m3\x1b[32mcr3t-t0ken-value\x1b[0m":      "\x1b[32m#\x1b[32m\x1b[32m\x1b[0m",
		"s3cr3t-t0ken-valu\x1b[0me":                              "#\x1b[0m",
		"s3cr3t-t0ken-valu\x1b]8;;http://x\x1b\\e":               "s3cr3t-t0ken-valu\x1b]8;;http://x\x1b\\e", // OSC text is visible
		"\x1b[31m" + secret + "\x1b[0m " + secret + "\x1b[K\r\n": "\x1b[31m#\x1b[0m #\x1b[K\r\n",
	} {
		if got := checkSplits(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	// With NoANSI, escape sequences are ordinary bytes.
	raw := newSet(t, Options{Mask: "#", NoANSI: true}, secret)
	if got := checkSplits(t, raw, "a s3cr3t-\x1b[1mt0ken-value"); got != "a s3cr3t-\x1b[1mt0ken-value" {
		t.Errorf("NoANSI: got %q", got)
	}
}

// An escape sequence may not hide a secret: after "ESC [" the lexer takes
// a secret's first byte for the sequence's final byte (a digit run for its
// parameters), so matching the visible bytes alone misses it while the raw
// log shows it. Generated secrets (letters first, digits only, punctuation
// first, with colours inside) after every kind of sequence prefix, followed
// by text, another sequence or nothing: the secret appears neither in the
// raw output nor in its visible bytes, for every split.
func TestEscapeSequenceCannotHideSecret(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 1))
	word := func(chars string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secrets := []string{
		"m" + word(alnum, 15),                          // an SGR final byte first
		"K" + word(alnum, 9),                           // erase-line's
		word("0123456789", 16),                         // all CSI parameter bytes
		word("0123456789;", 12) + "m" + word(alnum, 6), // parameters, a final byte, text
		"?" + word(alnum, 11),                          // a private parameter byte
		"[" + word(alnum, 10),                          // after a lone ESC
		word(alnum, 40),                                // long
		word("0123456789", 5),                          // short (a tiny pattern's path)
	}
	prefixes := []string{"\x1b[", "\x1b", "\x1b[1;", "\x1b[38;5;", "\x1b[?25", "\x1b[0m\x1b[", "x\x1b[31m\x1b["}
	suffixes := []string{"", " done\n", "\x1b[0m\n", "m tail", "\x1b[", "\x1b[31mred"}
	for _, secret := range secrets {
		set := newSet(t, Options{Mask: "#"}, secret)
		for _, pre := range prefixes {
			for _, suf := range suffixes {
				for _, in := range []string{
					pre + secret + suf,
					"log: " + pre + secret + suf + pre + secret,
					pre + secret[:len(secret)/2] + "\x1b[1m" + secret[len(secret)/2:] + suf, // colour inside too
				} {
					got := checkSplits(t, set, in)
					if strings.Contains(got, secret) || strings.Contains(lexInput(got, true).clean, secret) {
						t.Fatalf("secret %q leaks from %q: %q", secret, in, got)
					}
				}
			}
		}
		if set.Hits()["secret"] == 0 {
			t.Fatalf("no hits for %q", secret)
		}
	}
	// What the output looks like: the bytes of the sequence before and
	// after the secret stay, the token stands where the secret began.
	set := newSet(t, Options{Mask: "#"}, "12345678", "mysecret-value")
	for in, want := range map[string]string{
		"\x1b[12345678m text":        "\x1b[#m text",
		"\x1b[31mysecret-value done": "\x1b[31# done",
		"a\x1b[mysecret-value":       "a\x1b[#",
		"\x1b[mysecret-valu":         "\x1b[mysecret-valu",
	} {
		if got := checkSplits(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// A secret added while a raw match holds bytes back applies to them.
func TestAddedSecretAppliesToHeldRawBytes(t *testing.T) {
	set := newSet(t, Options{Mask: "#"}, "1234abcdXYZ")
	var out bytes.Buffer
	w := set.NewWriter(&out)
	mustWrite(t, w, "x \x1b[1234abcd") // held: the old secret may follow
	if w.Buffered() != len("1234abcd") {
		t.Fatalf("%d bytes held", w.Buffered())
	}
	set.Add("34abcdQQ-new")
	mustWrite(t, w, "QQ-new y")
	w.Close()
	if got, want := out.String(), "x \x1b[12# y"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Split invariance: a value read from a file with its trailing newline (or
// other trailing white space), printed as its padded base64 and a newline,
// comes out the same whole, byte by byte and at every split, and no
// character carrying bits of the value is visible. Generated values of
// every length modulo 3 (long enough for their encodings to be registered,
// MinEncodedLength), both alphabets, with a few bytes before them.
func TestBase64OfValueWithTrailingNewline(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!"
	for L := 6; L <= 30; L++ {
		b := make([]byte, L)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		for _, trail := range []string{"\n", "\r\n", " ", "\n\n", "\t\n"} {
			secret := string(b) + trail
			set := newSet(t, Options{Mask: "#"}, secret)
			for _, pre := range []string{"", "u:", "x"} {
				p := len(pre)
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
					e := enc.EncodeToString([]byte(pre + secret))
					in := "value: " + e + "\n"
					checkSplits(t, set, in)
					cov := referenceRawCover(set, in)
					off := len("value: ")
					first, last := (8*p+5)/6, (8*(p+len(secret))+5)/6
					for c := first; c < last; c++ {
						if !cov[off+c] {
							t.Fatalf("%q (%q before it) as %q: character %d is visible", secret, pre, e, c)
						}
					}
				}
			}
		}
	}
}

// Progress redraws: a line redrawn with CR that shows a growing prefix of
// a secret (a typing animation, a progress display of the value) leaves no
// prefix of minRedrawPrefix(len) bytes or more in the log, whole, byte by
// byte and at every split. Line ends (CRLF) after a prefix of a value's LF
// form, and progress bars, are left alone.
func TestProgressRedrawPrefixes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 6))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!"
	for _, L := range []int{5, 6, 8, 9, 12, 15, 16, 17, 24, 40} {
		b := make([]byte, L)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		secret := string(b)
		set := newSet(t, Options{Mask: "#"}, secret)
		var in strings.Builder
		for k := 1; k <= L; k++ {
			in.WriteString("\rToken: " + secret[:k])
			if k%3 == 0 {
				in.WriteString("\x1b[K") // erase to the end of the line
			}
		}
		in.WriteString("\n")
		got := checkSplits(t, set, in.String())
		for k := minRedrawPrefix(L); k < L; k++ {
			if strings.Contains(got, secret[:k]) {
				t.Fatalf("L=%d: a prefix of %d bytes survives: %q", L, k, got)
			}
		}
		if n := strings.Count(got, "#"); n != L-minRedrawPrefix(L)+1 {
			t.Errorf("L=%d: %d masks in %q", L, n, got)
		}
	}
	set := newSet(t, Options{Mask: "#"}, "first-line-of-it\nsecond-line-of-it", "0123456789abcdef-token")
	for in, want := range map[string]string{
		// The value with other line endings: its LF form's prefix is not
		// ended by the CR of a CRLF, its CRLF form goes on.
		"first-line-of-it\r\nother\r\n":          "#\r\nother\r\n",
		"first-line-of-it\r\nsecond-line-of-it!": "#!",
		// A prefix at a CRLF line end is ended by a CR too.
		"first-line\r\nnot the secret\r\n":              "#\r\nnot the secret\r\n",
		"\r[=====>    ] 50%\r[=========>] 100%\n":       "\r[=====>    ] 50%\r[=========>] 100%\n",
		"\r0123456\r01234567\r0123456789abcdef-tok\r\n": "\r0123456\r#\r#\r\n",
		"\r0123456789abcdef-tok\n":                      "\r0123456789abcdef-tok\n", // a line end, not a redraw
	} {
		if got := checkSplits(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// wrapBase64 is base64's and PEM's output: the encoding of data in lines
// of width characters, each ended by eol.
func wrapBase64(data string, width int, eol string) string {
	e := base64.StdEncoding.EncodeToString([]byte(data))
	var b strings.Builder
	for len(e) > width {
		b.WriteString(e[:width] + eol)
		e = e[width:]
	}
	return b.String() + e + eol
}

// Base64 wrapped at 64 (PEM, openssl) and 76 columns (MIME, coreutils'
// base64), with LF and CRLF: a secret whose encoding a line break cuts is
// masked, line break and all, at every write split, and no 8 characters of
// its encoding's stable core are left, with or without the line breaks.
func TestWrappedBase64Masked(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 8))
	for _, n := range []int{20, 47, 48, 49, 57, 100, 150} {
		secret := encTestSecret(r, n, n, true)
		set := newEncTestSet(t, secret)
		for _, width := range []int{64, 76} {
			for _, eol := range []string{"\n", "\r\n"} {
				for _, pre := range []string{"", "user:", "{\"k\":\""} {
					data := pre + secret + "\n" // a file with its newline
					block := wrapBase64(data, width, eol)
					input := "$ base64 key.txt" + eol + block + "$ echo done" + eol
					out := checkSplits(t, set, input)
					joined := strings.NewReplacer("\r", "", "\n", "").Replace(out)
					for _, c := range base64Cores(secret) {
						if c.tail != tailBase64 {
							continue
						}
						for i := 0; i+8 <= len(c.s); i++ {
							if strings.Contains(joined, c.s[i:i+8]) || strings.Contains(out, c.s[i:i+8]) {
								t.Fatalf("width %d, %q before: %q of the encoding is left in\n%s", width, pre, c.s[i:i+8], out)
							}
						}
					}
				}
			}
		}
	}
}

// A stretch of hex units shorter than the view's guard once was is
// decoded as when it is split: three percent-encoded bytes, then a byte
// that ends the stretch, in one write (a pattern of three bytes needs
// Options.MinLength 3).
func TestShortPercentRunMaskedInOneWrite(t *testing.T) {
	set := newSet(t, Options{MinLength: 3}, "abc")
	if got := checkSplits(t, set, "%61%62%63Z"); got != "%***Z" {
		t.Fatalf("got %q, want %q", got, "%***Z")
	}
}

// A secret whose visible part is shorter than the minimum length (the rest
// is escape sequences or NULs) is not masked as printed; Add says so
// rather than registering it silently.
func TestSecretMostlyInvisibleWarns(t *testing.T) {
	set := NewSet(Options{})
	if n := set.Add("\x1b[31mab\x1b[0m"); n != 1 {
		t.Fatalf("Add skipped %d, want 1", n)
	}
	w := set.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Reason, "visible") {
		t.Fatalf("warnings %v, want one about its visible part", w)
	}
}
