package masking

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// Secrets printed in the encodings of issue 11 are masked whatever the
// split of the writes: UTF-16LE and UTF-16BE (NUL bytes are invisible to
// matching, and kept in the output after the mask token), hex with ':',
// ' ' or `\x` between the bytes and xxd's groups of two bytes, every byte
// percent-encoded, and double percent-encoding. A CI log full of their
// look-alikes (timestamps, MAC and IPv6 addresses, digests, hex dumps,
// URLs, UTF-16 text) comes out untouched.
//
// Every expected output is built here from the input; none comes from the
// reference implementation, and the helpers below drive Writers directly.

// encTestSplitMax is the longest input checked at every single split.
const encTestSplitMax = 400

// encTestRun writes input to a fresh Writer of set in writes cut at the
// sorted offsets cuts, closes it and returns what it wrote.
func encTestRun(t *testing.T, set *Set, input string, cuts []int) string {
	t.Helper()
	var out bytes.Buffer
	w := set.NewWriter(&out)
	prev := 0
	for _, c := range append(slices.Clip(cuts), len(input)) {
		if c < prev || c > len(input) {
			t.Fatalf("bad cut %d after %d (input of %d bytes)", c, prev, len(input))
		}
		n, err := w.Write([]byte(input[prev:c]))
		if err != nil || n != c-prev {
			t.Fatalf("Write of %d bytes = %d, %v", c-prev, n, err)
		}
		prev = c
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := w.Buffered(); n != 0 {
		t.Fatalf("Buffered() = %d after Close", n)
	}
	return out.String()
}

// An encTestChecker streams one input through a Set split in many ways
// and fails unless every output is the expected one.
type encTestChecker struct {
	t     *testing.T
	set   *Set
	input string
	// want is the expected output with its NUL bytes removed, unless
	// exact is set: then it is the expected output itself.
	want  string
	exact bool
	first string // the output of one write
}

// newEncTestChecker checks input written at once and returns a checker
// for other splits, which must also give the same bytes as that write.
func newEncTestChecker(t *testing.T, set *Set, input, want string, exact bool) *encTestChecker {
	t.Helper()
	c := &encTestChecker{t: t, set: set, input: input, want: want, exact: exact}
	c.first = encTestRun(t, set, input, nil)
	c.verify("one write", nil, c.first)
	return c
}

// verify fails unless got, the output of input written in writes cut at
// cuts, is the expected output: with NULs removed it is want, it has as
// many NULs as the input (invisible bytes are kept, not dropped), and it is
// the same as the output of one write.
func (c *encTestChecker) verify(how string, cuts []int, got string) {
	c.t.Helper()
	desc := how
	if len(cuts) > 0 && len(cuts) <= 12 {
		desc = fmt.Sprintf("%s (cuts %v)", how, cuts)
	}
	if c.exact {
		if got != c.want {
			c.t.Fatalf("%s: input %q\n got %q\nwant %q", desc, c.input, got, c.want)
		}
		return
	}
	if vis := strings.ReplaceAll(got, "\x00", ""); vis != c.want {
		c.t.Fatalf("%s: input %q\n got %q\nwant %q (NULs removed)", desc, c.input, got, c.want)
	}
	if n, m := strings.Count(got, "\x00"), strings.Count(c.input, "\x00"); n != m {
		c.t.Fatalf("%s: input %q\n got %q: %d NUL bytes, the input has %d", desc, c.input, got, n, m)
	}
	if got != c.first {
		c.t.Fatalf("%s: input %q\n got %q\nbut one write gave %q", desc, c.input, got, c.first)
	}
}

func (c *encTestChecker) cuts(how string, cuts []int) {
	c.t.Helper()
	c.verify(how, cuts, encTestRun(c.t, c.set, c.input, cuts))
}

// bytewise checks one byte per write.
func (c *encTestChecker) bytewise() {
	c.t.Helper()
	cuts := make([]int, 0, len(c.input))
	for i := 1; i < len(c.input); i++ {
		cuts = append(cuts, i)
	}
	c.cuts("one byte per write", cuts)
}

// singleSplits checks two writes, cut at each offset in [lo, hi).
func (c *encTestChecker) singleSplits(lo, hi int) {
	c.t.Helper()
	for i := max(1, lo); i < min(hi, len(c.input)); i++ {
		c.cuts("two writes", []int{i})
	}
}

// fixed checks writes of size bytes.
func (c *encTestChecker) fixed(size int) {
	c.t.Helper()
	var cuts []int
	for i := size; i < len(c.input); i += size {
		cuts = append(cuts, i)
	}
	c.cuts(fmt.Sprintf("writes of %d bytes", size), cuts)
}

// random checks n seeded random splits: writes of 1 to 2 bytes, 1 to 16
// and 1 to 200.
func (c *encTestChecker) random(seed uint64, n int) {
	c.t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(len(c.input))))
	for k := range n {
		most := []int{2, 16, 200}[k%3]
		var cuts []int
		for i := 1 + r.IntN(most); i < len(c.input); i += 1 + r.IntN(most) {
			cuts = append(cuts, i)
		}
		c.cuts(fmt.Sprintf("random writes of 1 to %d bytes (#%d)", most, k), cuts)
	}
}

// encTestMasked checks input, of at most encTestSplitMax bytes, written at
// once, one byte per write, in two writes cut at every offset and in
// seeded random writes: each output, with NULs removed, must be want, and
// all must be the same bytes.
func encTestMasked(t *testing.T, set *Set, input, want string) {
	t.Helper()
	if len(input) > encTestSplitMax {
		t.Fatalf("input of %d bytes: keep split-tested inputs within %d", len(input), encTestSplitMax)
	}
	c := newEncTestChecker(t, set, input, want, false)
	c.bytewise()
	c.singleSplits(1, len(input))
	c.random(11, 9)
}

// encTestCase is one input and its expected output (NULs removed).
type encTestCase struct {
	name, input, want string
}

func encTestRunCases(t *testing.T, set *Set, cases []encTestCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			encTestMasked(t, set, tc.input, tc.want)
		})
	}
}

const (
	encTestAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	encTestPunct = "!#$%&()*+,-./:;<=>?@[]^_{|}~"
	// encTestReserved are the punctuation bytes RFC 3986 escapes.
	encTestReserved = "!#$%&()*+,/:;<=>?@[]^{|}"
)

// encTestSecret returns a generated secret of minLen to maxLen bytes:
// letters and digits, about one byte in five punctuation, and with punct
// at least one byte that URL escaping changes.
func encTestSecret(r *rand.Rand, minLen, maxLen int, punct bool) string {
	b := make([]byte, minLen+r.IntN(maxLen-minLen+1))
	for i := range b {
		if punct && r.IntN(5) == 0 {
			b[i] = encTestPunct[r.IntN(len(encTestPunct))]
		} else {
			b[i] = encTestAlnum[r.IntN(len(encTestAlnum))]
		}
	}
	if punct {
		b[r.IntN(len(b))] = encTestReserved[r.IntN(len(encTestReserved))]
	}
	return string(b)
}

// encTestSecrets returns n distinct generated secrets.
func encTestSecrets(r *rand.Rand, n, minLen, maxLen int, punct bool) []string {
	seen := make(map[string]bool)
	var out []string
	for len(out) < n {
		if s := encTestSecret(r, minLen, maxLen, punct); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// encTestSecretCase is a secret and the name of its cases.
type encTestSecretCase struct{ name, value string }

// encTestValues returns the values of secrets.
func encTestValues(secrets []encTestSecretCase) []string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = s.value
	}
	return out
}

// encTestAll returns fixed and then gen, named gen00, gen01 and so on.
func encTestAll(fixed []encTestSecretCase, gen []string) []encTestSecretCase {
	out := slices.Clone(fixed)
	for i, s := range gen {
		out = append(out, encTestSecretCase{fmt.Sprintf("gen%02d", i), s})
	}
	return out
}

// encTestUTF16 returns s in UTF-16, little-endian or big-endian.
func encTestUTF16(s string, bigEndian bool) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b.WriteByte(byte(u >> 8))
			b.WriteByte(byte(u))
		} else {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
	}
	return b.String()
}

func encTestUTF16LE(s string) string { return encTestUTF16(s, false) }
func encTestUTF16BE(s string) string { return encTestUTF16(s, true) }

// The non-ASCII secret the encoding tests share: Latin-1, Cyrillic and
// Greek letters, so its UTF-16 has bytes other than NUL beside the
// letters' (and none is ESC).
const encTestNonASCII = "pässwörd-ключ-Ω123"

func TestUTF16Masked(t *testing.T) {
	fixed := []encTestSecretCase{{"ascii", "s3cr3t-Value_42"}, {"non-ascii", encTestNonASCII},
		{"surrogates", "tøken-🔑-Zeta9"}, // a surrogate pair in UTF-16
	}
	r := rand.New(rand.NewPCG(16, 1))
	gen := encTestSecrets(r, 24, 8, 80, true)
	set := newEncTestSet(t, append(encTestValues(fixed), gen...)...)

	var cases []encTestCase
	add := func(name, secret string) {
		for _, e := range []struct {
			name string
			enc  func(string) string
		}{{"le", encTestUTF16LE}, {"be", encTestUTF16BE}} {
			cases = append(cases,
				// UTF-16 of the secret inside ASCII output.
				encTestCase{name + "/" + e.name, "value: " + e.enc(secret) + " (from vault)\n",
					"value: *** (from vault)\n"},
				// A line of PowerShell's Out-File: all UTF-16.
				encTestCase{name + "/" + e.name + "-line", e.enc("Token: " + secret + "\r\n"),
					"Token: ***\r\n"},
			)
		}
		// Control: the secret as it is, with the same text around it.
		cases = append(cases, encTestCase{name + "/plain", "value: " + secret + " (from vault)\n",
			"value: *** (from vault)\n"})
	}
	for _, s := range encTestAll(fixed, gen) {
		add(s.name, s.value)
	}
	// Files with a byte order mark: UTF-16LE and UTF-16BE, and the secret
	// in UTF-8 after a UTF-8 one.
	for _, s := range fixed {
		text := "Token: " + s.value + "\r\nDone.\r\n"
		want := "Token: ***\r\nDone.\r\n"
		cases = append(cases,
			encTestCase{s.name + "/bom-le", "\xff\xfe" + encTestUTF16LE(text), "\xff\xfe" + want},
			encTestCase{s.name + "/bom-be", "\xfe\xff" + encTestUTF16BE(text), "\xfe\xff" + want},
			encTestCase{s.name + "/bom-utf8", "\xef\xbb\xbf" + text, "\xef\xbb\xbf" + want},
		)
	}
	encTestRunCases(t, set, cases)
}

// newEncTestSet returns a Set with the default options (detectors on)
// and secrets, and fails if any of them is not registered in full.
func newEncTestSet(t *testing.T, secrets ...string) *Set {
	t.Helper()
	set := NewSet(Options{})
	if n := set.Add(secrets...); n != 0 {
		t.Fatalf("Add skipped %d secrets: %v", n, set.Warnings())
	}
	return set
}

// encTestHexStyle is a way of printing bytes in hex: each as pre and two
// hex digits, with sep between them.
type encTestHexStyle struct {
	name, pre, sep string
	upper          bool
}

// masked is what the mask token leaves of a whole form: the first unit's
// prefix (it tells nothing of the secret), then the token.
func (h encTestHexStyle) masked() string { return h.pre + "***" }

func (h encTestHexStyle) form(data string) string {
	units := make([]string, len(data))
	for i := range len(data) {
		units[i] = h.pre + hex.EncodeToString([]byte{data[i]})
	}
	s := strings.Join(units, h.sep)
	if h.upper {
		// Only the digits: `\x` stays lower-case.
		s = strings.ReplaceAll(strings.ToUpper(s), `\X`, `\x`)
	}
	return s
}

// encTestHexStyles are the separated hex forms: openssl's and fingerprints'
// ':', Python's bytes.hex(' '), and C and shell escapes `\x`, each in
// lower and upper case.
func encTestHexStyles() []encTestHexStyle {
	var out []encTestHexStyle
	for _, upper := range []bool{false, true} {
		suffix := "-lower"
		if upper {
			suffix = "-upper"
		}
		out = append(out,
			encTestHexStyle{"colon" + suffix, "", ":", upper},
			encTestHexStyle{"space" + suffix, "", " ", upper},
			encTestHexStyle{"backslash-x" + suffix, `\x`, "", upper},
		)
	}
	return out
}

// encTestPrintable returns data with the bytes outside printable ASCII
// as '.', as the text columns of xxd and hexdump -C show it.
func encTestPrintable(data []byte) string {
	b := []byte(string(data))
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = '.'
		}
	}
	return string(b)
}

// encTestXXD returns data as xxd prints it: 16 bytes a line, in groups of
// two bytes, then the text column (xxd -u: upper-case hex).
func encTestXXD(data []byte, upper bool) string {
	var b strings.Builder
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		var hx strings.Builder
		for i, c := range line {
			if i > 0 && i%2 == 0 {
				hx.WriteByte(' ')
			}
			if upper {
				fmt.Fprintf(&hx, "%02X", c)
			} else {
				fmt.Fprintf(&hx, "%02x", c)
			}
		}
		fmt.Fprintf(&b, "%08x: %-40s %s\n", off, hx.String(), encTestPrintable(line))
	}
	return b.String()
}

// encTestHexdumpC returns data as hexdump -C prints it: 16 bytes a line,
// a gap after the eighth, then the text column between bars, and the
// length on a last line.
func encTestHexdumpC(data []byte) string {
	var b strings.Builder
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		fmt.Fprintf(&b, "%08x  ", off)
		for i := range 16 {
			if i < len(line) {
				fmt.Fprintf(&b, "%02x ", line[i])
			} else {
				b.WriteString("   ")
			}
			if i == 7 {
				b.WriteByte(' ')
			}
		}
		fmt.Fprintf(&b, " |%s|\n", encTestPrintable(line))
	}
	fmt.Fprintf(&b, "%08x\n", len(data))
	return b.String()
}

func TestSeparatedHexMasked(t *testing.T) {
	// The example of the issue: a 4-byte binary secret.
	deadbeef := "\xde\xad\xbe\xef"
	// Binary keys of 16 random bytes: one without NUL and ESC bytes, one
	// with both (invisible in text, but not in its hex).
	r := rand.New(rand.NewPCG(16, 2))
	key := func(nulEsc bool) string {
		for {
			k := make([]byte, 16)
			for i := range k {
				k[i] = byte(r.Uint32())
			}
			if nulEsc {
				k[3], k[9] = 0x00, 0x1b
				return string(k)
			}
			if !bytes.ContainsAny(k, "\x00\x1b") {
				return string(k)
			}
		}
	}
	xxdFull := "secret-value1234" // one whole xxd line
	xxdShort := "api-key-Z9x7"    // 12 bytes, then a newline
	hexdumpC := "k8s-tok9"        // within hexdump -C's first half line
	fixed := []encTestSecretCase{{"deadbeef", deadbeef}, {"binary", key(false)}, {"binary-nul-esc", key(true)},
		{"xxd-full", xxdFull}, {"xxd-short", xxdShort}, {"hexdump-c", hexdumpC}, {"non-ascii", encTestNonASCII}}
	gen := encTestSecrets(r, 10, 8, 40, true)
	set := newEncTestSet(t, append(encTestValues(fixed), gen...)...)

	var cases []encTestCase
	// The example, in both cases.
	cases = append(cases,
		encTestCase{"fingerprint-lower", "fp: de:ad:be:ef end", "fp: *** end"},
		encTestCase{"fingerprint-upper", "fp: DE:AD:BE:EF end", "fp: *** end"},
	)
	for _, h := range encTestHexStyles() {
		add := func(name, secret string) {
			f := h.form(secret)
			cases = append(cases,
				encTestCase{name + "/" + h.name, "key bytes: " + f + "\n", "key bytes: " + h.masked() + "\n"},
				encTestCase{name + "/" + h.name + "-quoted", "+ printf '" + f + "' > key.bin\n",
					"+ printf '" + h.masked() + "' > key.bin\n"},
				// Inside the dump of a longer value: the token replaces the
				// secret's units only.
				encTestCase{name + "/" + h.name + "-embedded", "dump: " + h.form("KEY="+secret+"\n") + "\n",
					"dump: " + h.form("KEY=") + h.sep + h.masked() + h.sep + h.form("\n") + "\n"},
			)
		}
		for _, s := range encTestAll(fixed, gen) {
			add(s.name, s.value)
		}
	}
	// xxd and hexdump -C of files that start with a secret: its hex and
	// its text column are masked, the rest of the line is not.
	for _, upper := range []bool{false, true} {
		hs := encTestHexStyle{sep: "", upper: upper}
		grouped := func(s string) string {
			f := hs.form(s)
			var g []string
			for i := 0; i < len(f); i += 4 {
				g = append(g, f[i:min(i+4, len(f))])
			}
			return strings.Join(g, " ")
		}
		for _, data := range []string{xxdFull, xxdFull + "\n", xxdShort + "\n"} {
			secret := strings.TrimSuffix(data, "\n")
			dump := encTestXXD([]byte(data), upper)
			want := strings.Replace(dump, grouped(secret), "***", 1)
			want = strings.Replace(want, secret, "***", 1)
			cases = append(cases, encTestCase{fmt.Sprintf("dump/xxd-%d-upper=%v", len(data), upper), dump, want})
		}
	}
	dump := encTestHexdumpC([]byte(hexdumpC + "\n"))
	want := strings.Replace(dump, encTestHexStyle{sep: " "}.form(hexdumpC), "***", 1)
	want = strings.Replace(want, hexdumpC, "***", 1)
	cases = append(cases, encTestCase{"dump/hexdump-C", dump, want})
	encTestRunCases(t, set, cases)
}

// encTestEveryByte returns every byte of s percent-encoded, twice if
// double ("%2573" for 's').
func encTestEveryByte(s string, upper, double bool) string {
	var b strings.Builder
	for i := range len(s) {
		b.WriteByte('%')
		if double {
			b.WriteString("25")
		}
		if upper {
			fmt.Fprintf(&b, "%02X", s[i])
		} else {
			fmt.Fprintf(&b, "%02x", s[i])
		}
	}
	return b.String()
}

// encTestRFC3986 returns s escaped as RFC 3986 data: every byte but
// letters, digits and "-._~" percent-encoded.
func encTestRFC3986(s string, upper bool) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if strings.IndexByte(encTestAlnum+"-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		if upper {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// encTestDouble percent-encodes the escapes of an escaped value again, as
// a URL inside a URL's query carries it.
func encTestDouble(escaped string) string {
	return strings.ReplaceAll(escaped, "%", "%25")
}

func TestPercentEveryByteMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 3))
	fixed := []encTestSecretCase{{"ascii", "s3cr3t-Value_42"}, {"reserved", "p@ss/w0rd!x9"}, {"non-ascii", encTestNonASCII}}
	gen := encTestSecrets(r, 10, 8, 40, true)
	set := newEncTestSet(t, append(encTestValues(fixed), gen...)...)
	if got, want := encTestEveryByte("s3c", false, false), "%73%33%63"; got != want {
		t.Fatalf("encTestEveryByte = %q, want %q", got, want)
	}

	var cases []encTestCase
	add := func(name, secret string) {
		for _, upper := range []bool{false, true} {
			f := encTestEveryByte(secret, upper, false)
			n := fmt.Sprintf("%s/upper=%v", name, upper)
			cases = append(cases,
				encTestCase{n, "GET /oauth/callback?code=" + f + "&state=af0ifjsldkj HTTP/1.1\n",
					"GET /oauth/callback?code=%***&state=af0ifjsldkj HTTP/1.1\n"},
				// After an escaped '=' inside a parameter's value.
				encTestCase{n + "-after-escape", "GET /search?q=api_key%3D" + f + "&page=1\n",
					"GET /search?q=api_key%3D%***&page=1\n"},
				encTestCase{n + "-alone", f, "%***"},
			)
		}
	}
	for _, s := range encTestAll(fixed, gen) {
		add(s.name, s.value)
	}
	encTestRunCases(t, set, cases)
}

func TestDoublePercentMasked(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 4))
	// URL escaping leaves "ascii" as it is, so its escaped cases are the
	// value itself; every-byte encoding does not.
	fixed := []encTestSecretCase{{"reserved", "p@ss/w0rd!x9"}, {"ascii", "s3cr3t-Value_42"}, {"non-ascii", encTestNonASCII}}
	gen := encTestSecrets(r, 10, 8, 40, true)
	set := newEncTestSet(t, append(encTestValues(fixed), gen...)...)

	// The forms of the issue, written out.
	for _, c := range []struct{ got, want string }{
		{encTestRFC3986("p@ss/w0rd!x9", true), "p%40ss%2Fw0rd%21x9"},
		{encTestDouble(encTestRFC3986("p@ss/w0rd!x9", true)), "p%2540ss%252Fw0rd%2521x9"},
		{encTestDouble(encTestRFC3986("p@ss/w0rd!x9", false)), "p%2540ss%252fw0rd%2521x9"},
		{encTestEveryByte("s3c", false, true), "%2573%2533%2563"},
	} {
		if c.got != c.want {
			t.Fatalf("form %q, want %q", c.got, c.want)
		}
	}
	if esc := url.QueryEscape("p@ss/w0rd!x9"); esc != "p%40ss%2Fw0rd%21x9" {
		t.Fatalf("url.QueryEscape = %q: the form above is not the usual one", esc)
	}

	var cases []encTestCase
	add := func(name, secret string) {
		for _, upper := range []bool{false, true} {
			n := fmt.Sprintf("%s/upper=%v", name, upper)
			twice := encTestDouble(encTestRFC3986(secret, upper))
			every := encTestEveryByte(secret, upper, true)
			cases = append(cases,
				// A login redirect whose next URL has the password in
				// its query: escaped once in it, and again in next=.
				encTestCase{n + "/escaped", "302 Location: https://sso.example.com/login?next=https%3A%2F%2Fapp.example.com%2Fcb%3Fpw%3D" +
					twice + "&lang=en\n",
					"302 Location: https://sso.example.com/login?next=https%3A%2F%2Fapp.example.com%2Fcb%3Fpw%3D***&lang=en\n"},
				encTestCase{n + "/escaped-alone", twice, "***"},
				encTestCase{n + "/every-byte", "GET /start?return=" + every + "&x=1\n", "GET /start?return=%25***&x=1\n"},
				encTestCase{n + "/every-byte-alone", every, "%25***"},
			)
		}
	}
	for _, s := range encTestAll(fixed, gen) {
		add(s.name, s.value)
	}
	encTestRunCases(t, set, cases)
}

// encTestFill returns n bytes of build log lines, the last one cut short
// (n > 0).
func encTestFill(n int, step int) string {
	var b strings.Builder
	for i := step; b.Len() < n; i++ {
		line := fmt.Sprintf("[build] step %d: compiling module widget/part%d\n", i, i)
		if b.Len()+len(line) > n {
			line = strings.Repeat("-", n-b.Len()-1) + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// An encTestBoundaryCase is a form of a secret (its hex, UTF-16 or
// percent-encoding, or part of an xxd line) printed after ctx ("key: "
// if empty), and what the mask token leaves of the form.
type encTestBoundaryCase struct{ name, ctx, form, want string }

// encTestAcrossBoundaries checks each case printed twice, its form starting
// at offsets 60 and 4090 of the input, so that it crosses the 64- and the
// 4096-byte boundaries: written at once, one byte per write, in writes of
// 64 and of 4096 bytes, in two writes cut at each offset near the forms,
// and in random writes.
func encTestAcrossBoundaries(t *testing.T, set *Set, cases []encTestBoundaryCase) {
	t.Helper()
	for _, f := range cases {
		t.Run(f.name, func(t *testing.T) {
			ctx := f.ctx
			if ctx == "" {
				ctx = "key: "
			}
			const at1, at2 = 60, 4090
			in1 := encTestFill(at1-len(ctx), 1) + ctx
			mid := " (loaded)\n"
			in2 := encTestFill(at2-len(ctx)-len(in1)-len(f.form)-len(mid), 7) + ctx
			tail := " (loaded)\n" + encTestFill(100, 400)
			input := in1 + f.form + mid + in2 + f.form + tail
			want := in1 + f.want + mid + in2 + f.want + tail
			if a, b := strings.Index(input, f.form), strings.LastIndex(input, f.form); a != at1 || b != at2 {
				t.Fatalf("forms at %d and %d", a, b)
			}
			c := newEncTestChecker(t, set, input, want, false)
			c.bytewise()
			c.fixed(64)
			c.fixed(4096)
			c.singleSplits(at1-20, at1+len(f.form)+20)
			c.singleSplits(at2-20, at2+len(f.form)+20)
			c.random(12, 6)
		})
	}
}

func TestSeparatedHexAcrossBoundaries(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 5))
	secret := encTestSecret(r, 32, 32, true)
	// xxd: a 16-byte secret from the first byte of a line; the line's
	// offset column is the context, so its hex starts at the boundary.
	short := secret[:16]
	set := newEncTestSet(t, secret, short)
	var cases []encTestBoundaryCase
	for _, h := range encTestHexStyles() {
		cases = append(cases, encTestBoundaryCase{name: h.name, form: h.form(secret), want: h.masked()})
	}
	for _, upper := range []bool{false, true} {
		line := strings.TrimSuffix(encTestXXD([]byte(short), upper), "\n")
		cases = append(cases, encTestBoundaryCase{name: fmt.Sprintf("xxd-upper=%v", upper), ctx: "00000000: ",
			form: strings.TrimPrefix(line, "00000000: "), want: "***  ***"})
	}
	encTestAcrossBoundaries(t, set, cases)
}

func TestUTF16AcrossBoundaries(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 6))
	secret := encTestSecret(r, 32, 32, true)
	set := newEncTestSet(t, secret, encTestNonASCII)
	encTestAcrossBoundaries(t, set, []encTestBoundaryCase{
		{name: "le", form: encTestUTF16LE(secret), want: "***"},
		{name: "be", form: encTestUTF16BE(secret), want: "***"},
		{name: "le-non-ascii", form: encTestUTF16LE(encTestNonASCII), want: "***"},
		{name: "be-non-ascii", form: encTestUTF16BE(encTestNonASCII), want: "***"},
	})
}

func TestPercentAcrossBoundaries(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 7))
	secret := encTestSecret(r, 32, 32, true)
	set := newEncTestSet(t, secret)
	encTestAcrossBoundaries(t, set, []encTestBoundaryCase{
		{name: "every-byte", form: encTestEveryByte(secret, false, false), want: "%***"},
		{name: "every-byte-double", form: encTestEveryByte(secret, true, true), want: "%25***"},
		{name: "escaped-double", form: encTestDouble(encTestRFC3986(secret, true)), want: "***"},
	})
}

// encTestLookalikeLog returns a CI log of about lines lines, with no
// secret, full of what the encodings' matchers must leave alone:
// timestamps, MAC and IPv6 addresses, git hashes and sha256 digests,
// docker pull progress, xxd and hexdump -C of random bytes, Python's
// bytes repr, percent-encoded URLs, UTF-16LE output of a Windows tool,
// and Go test output.
func encTestLookalikeLog(r *rand.Rand, lines int) string {
	words := strings.Fields(`build cache layer module package widget gadget artifact deploy
		release staging compile link test vet lint format upload download resolve fetch
		checkout restore save report coverage summary warning notice debug verbose`)
	word := func() string { return words[r.IntN(len(words))] }
	hexs := func(n int) string {
		b := make([]byte, (n+1)/2)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return hex.EncodeToString(b)[:n]
	}
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	mac := func() string {
		p := make([]string, 6)
		for i := range p {
			p[i] = hexs(2)
		}
		return strings.Join(p, ":")
	}
	ipv6 := func() string {
		return fmt.Sprintf("fe80::%x:%x:%x:%x", r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16))
	}
	clock := func() string { return fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60)) }
	iso := func() string {
		return fmt.Sprintf("2026-12-%02dT%s.%03dZ", 1+r.IntN(28), clock(), r.IntN(1000))
	}

	var b strings.Builder
	for n := 0; n < lines; n++ {
		switch r.IntN(14) {
		case 0:
			fmt.Fprintf(&b, "%s INFO  %s %s finished in %d.%03ds\n", iso(), word(), word(), r.IntN(60), r.IntN(1000))
		case 1:
			fmt.Fprintf(&b, "[%s] Step %d/%d : RUN make %s\n", clock(), 1+r.IntN(9), 10+r.IntN(10), word())
		case 2:
			fmt.Fprintf(&b, "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n"+
				"    link/ether %s brd ff:ff:ff:ff:ff:ff\n"+
				"    inet6 %s/64 scope link \n"+
				"       valid_lft forever preferred_lft forever\n", mac(), ipv6())
			n += 3
		case 3:
			fmt.Fprintf(&b, "HEAD is now at %s %s the %s %s\n", hexs(7), word(), word(), word())
			fmt.Fprintf(&b, "commit %s\nMerge: %s %s\n", hexs(40), hexs(7), hexs(7))
			n += 2
		case 4:
			layer := hexs(12)
			fmt.Fprintf(&b, "%s: Pulling fs layer\n%s: Verifying Checksum\n%s: Download complete\n%s: Pull complete\n",
				layer, layer, layer, layer)
			if r.IntN(3) == 0 {
				fmt.Fprintf(&b, "Digest: sha256:%s\nStatus: Downloaded newer image for golang:1.%d\n", hexs(64), 20+r.IntN(6))
				n += 2
			}
			n += 3
		case 5:
			d := encTestXXD(randBytes(16+r.IntN(48)), r.IntN(2) == 0)
			b.WriteString(d)
			n += strings.Count(d, "\n") - 1
		case 6:
			d := encTestHexdumpC(randBytes(16 + r.IntN(48)))
			b.WriteString(d)
			n += strings.Count(d, "\n") - 1
		case 7:
			fmt.Fprintf(&b, "GET https://registry.example.com/v2/%s/%s/blobs/sha256:%s 200 OK\n", word(), word(), hexs(64))
		case 8:
			q := url.QueryEscape(word() + " " + word() + " & " + word() + "/ä")
			every := encTestEveryByte(word()+"/"+word(), r.IntN(2) == 0, false)
			fmt.Fprintf(&b, "GET https://search.example.com/find?q=%s&next=%s&page=%d 200 OK\n", q, every, r.IntN(9))
			fmt.Fprintf(&b, "redirect: https://sso.example.com/login?next=https%%253A%%252F%%252Fapp.example.com%%252F%s\n", word())
			n++
		case 9:
			text := []string{"Build succeeded.", fmt.Sprintf("    %d Warning(s)", r.IntN(5)), "    0 Error(s)",
				fmt.Sprintf("Time Elapsed 00:00:%02d.%02d", r.IntN(60), r.IntN(100)),
				fmt.Sprintf("  %s -> C:\\build\\%s\\bin\\Release\\%s.dll", word(), word(), word())}[r.IntN(5)]
			b.WriteString(encTestUTF16LE(text + "\r\n"))
		case 10:
			w := word()
			name, sub := "Test"+strings.ToUpper(w[:1])+w[1:], word()
			fmt.Fprintf(&b, "=== RUN   %s\n=== RUN   %s/%s\n--- PASS: %s (0.%02ds)\n    --- PASS: %s/%s (0.00s)\n",
				name, name, sub, name, r.IntN(100), name, sub)
			n += 3
		case 11:
			fmt.Fprintf(&b, "ok  \tgithub.com/acme/%s/%s\t0.%03ds\tcoverage: %d.%d%% of statements\n",
				word(), word(), r.IntN(1000), r.IntN(100), r.IntN(10))
		case 12:
			fmt.Fprintf(&b, "%s  dist/%s-linux-amd64.tar.gz\n", hexs(64), word())
		case 13:
			// Python's repr of bytes.
			var esc strings.Builder
			for _, c := range randBytes(8 + r.IntN(16)) {
				switch {
				case c == '\\' || c == '\'':
					esc.WriteByte('\\')
					esc.WriteByte(c)
				case c >= 0x20 && c < 0x7f:
					esc.WriteByte(c)
				case c == '\t' || c == '\n' || c == '\r':
					esc.WriteString(map[byte]string{'\t': `\t`, '\n': `\n`, '\r': `\r`}[c])
				default:
					fmt.Fprintf(&esc, `\x%02x`, c)
				}
			}
			fmt.Fprintf(&b, "%s DEBUG read header b'%s' from [%s]:443 (peer %s)\n", clock(), esc.String(),
				fmt.Sprintf("2001:db8::%x:%x", r.IntN(1<<16), r.IntN(1<<16)), mac())
		}
	}
	return b.String()
}

func TestEncodingsNoFalsePositives(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 8))
	var secrets []string
	seen := make(map[string]bool)
	for len(secrets) < 50 {
		b := make([]byte, 20+r.IntN(21))
		for i := range b {
			b[i] = encTestAlnum[r.IntN(len(encTestAlnum))]
		}
		if s := string(b); !seen[s] {
			seen[s] = true
			secrets = append(secrets, s)
		}
	}
	set := newEncTestSet(t, secrets...)
	log := encTestLookalikeLog(r, 400)
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Fatalf("the generated log holds a generated secret")
		}
	}
	c := newEncTestChecker(t, set, log, log, true)
	c.fixed(64)
	c.fixed(4096)
	c.random(13, 4)
	if n := set.Redactions(); n != 0 {
		t.Fatalf("%d redactions in a log without secrets (hits %v)", n, set.Hits())
	}
}
