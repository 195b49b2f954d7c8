package masking

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"html"
	"net/url"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The encoders below each return the forms in which a program may print a
// value; callers drop forms equal to the value and duplicates.

// base64Core is one "stable core" of a value's base64 encoding.
type base64Core struct {
	s    string
	tail uint8 // tailBase64 or tailBase64URL
}

// base64Cores returns, for the standard and the URL alphabet and for each
// of the three alignments a the value can have inside encoded data (a
// bytes of something else before it, modulo 3), the characters of the
// encoding whose six bits all come from the value. They appear in the
// encoding of any data that contains the value at that alignment, whatever
// precedes or follows it (`echo $S | base64` adds a newline, a config file
// adds more).
func base64Cores(v string) []base64Core {
	var out []base64Core
	for _, alpha := range []struct {
		enc  *base64.Encoding
		tail uint8
	}{{base64.RawStdEncoding, tailBase64}, {base64.RawURLEncoding, tailBase64URL}} {
		for a := range 3 {
			buf := make([]byte, a+len(v))
			copy(buf[a:], v)
			e := alpha.enc.EncodeToString(buf)
			lo, hi := (8*a+5)/6, 8*(a+len(v))/6
			if hi > lo {
				out = append(out, base64Core{e[lo:hi], alpha.tail})
			}
		}
	}
	return out
}

// jsonForms returns the value as it appears inside a JSON string: the
// minimal escaping (Newtonsoft, serde), Go's encoding/json (HTML-safe
// \u003c, and without HTML escaping), ASCII-only \uXXXX (Python's
// ensure_ascii), "\/" for '/' (PHP), and the minimal escaping applied twice
// (JSON inside a JSON string).
func jsonForms(v string) []string {
	minimal := jsonEscape(v, false)
	out := []string{minimal, jsonEscape(v, true), jsonEscape(minimal, false),
		strings.ReplaceAll(minimal, "/", `\/`)}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		out = append(out, string(b[1:len(b)-1]))
	}
	return out
}

// jsonEscape escapes '"', '\\' and control characters, and with ascii also
// every non-ASCII character (as UTF-16 \uXXXX, lower-case hex).
func jsonEscape(v string, ascii bool) string {
	const hexd = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf || !ascii {
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 || c == 0x7f && ascii {
					b.WriteString(`\u00`)
					b.WriteByte(hexd[c>>4])
					b.WriteByte(hexd[c&15])
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(v[i:])
		i += n
		units := []uint16{uint16(r)}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			units = []uint16{uint16(r1), uint16(r2)}
		}
		for _, u := range units {
			b.WriteString(`\u`)
			for s := 12; s >= 0; s -= 4 {
				b.WriteByte(hexd[u>>s&15])
			}
		}
	}
	return b.String()
}

// urlForms returns the value percent-encoded as RFC 3986 data (upper- and
// lower-case hex), as a form value ('+' for space; both cases), as a URL
// path segment, as JavaScript's encodeURIComponent leaves it, and the RFC
// 3986 form encoded again (a URL inside a URL's query; both cases). Every
// byte percent-encoded, once or twice, is matched by the hex view
// (hexview.go), not by patterns.
func urlForms(v string) []string {
	rfc := percentEncode(v, "-._~")
	form := url.QueryEscape(v)
	lower := lowerHexEscapes(rfc)
	return []string{rfc, lower, form, lowerHexEscapes(form), url.PathEscape(v),
		percentEncode(v, "-._~!'()*"), percentEncode(rfc, "-._~"), percentEncode(lower, "-._~")}
}

// percentEncode escapes every byte but ASCII letters, digits and keep,
// with upper-case hex.
func percentEncode(v, keep string) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < utf8.RuneSelf && (isAlnum(c) || strings.IndexByte(keep, c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// lowerHexEscapes lower-cases the hex digits of the %XX escapes in s.
func lowerHexEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerHex(b[i+1])
			b[i+2] = lowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// xmlForms returns the value with XML/HTML entities: the five named ones
// (.NET's SecurityElement.Escape), Go's html.EscapeString (&#39; &#34;) and
// Go's xml.EscapeText (which also escapes tab, LF and CR).
func xmlForms(v string) []string {
	named := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(v)
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(v))
	return []string{named, html.EscapeString(v), b.String()}
}

// shellForms returns the value as shells and tools quote it: `"` as `\"`
// (a command-line argument), with `\` doubled too (a C string), `'` as
// `”` (SQL, YAML, PowerShell), `'` as `'\”` (bash xtrace), and bash's
// printf %q (a backslash before each special character).
func shellForms(v string) []string {
	return []string{
		strings.ReplaceAll(v, `"`, `\"`),
		strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v),
		strings.ReplaceAll(v, "'", "''"),
		strings.ReplaceAll(v, "'", `'\''`),
		printfQ(v),
	}
}

// printfQ is bash's printf %q for values without control characters; for
// others it returns "" (bash prints them as $'…' words instead, whose
// inside is the value's minimal JSON escaping for the usual \n, \t, \r).
func printfQ(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return ""
		case strings.IndexByte(" !\"$&'()*,;<>?[\\]^`{|}", c) >= 0, i == 0 && (c == '#' || c == '~'):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// hexForms returns the value's bytes in hex, lower- and upper-case.
func hexForms(v string) []string {
	h := hex.EncodeToString([]byte(v))
	return []string{h, strings.ToUpper(h)}
}

// utf16Forms returns the value's UTF-16LE and UTF-16BE bytes. Matching
// hides NUL bytes (ansi.go), so the forms of an ASCII value are the value
// itself and only other values get patterns of their own (the form with
// its NULs removed); with Options.NoANSI they are patterns as they are.
func utf16Forms(v string) []string {
	var le, be strings.Builder
	for _, u := range utf16.Encode([]rune(v)) {
		le.WriteByte(byte(u))
		le.WriteByte(byte(u >> 8))
		be.WriteByte(byte(u >> 8))
		be.WriteByte(byte(u))
	}
	return []string{le.String(), be.String()}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
