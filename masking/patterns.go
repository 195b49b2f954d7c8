package masking

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A pattern is a literal the matcher finds, with what a match of it does.
type pattern struct {
	s    string
	hit  uint16 // the hit counter a match counts under
	tail uint8  // what the match extends over (a tailSpec index)
	gen  uint64 // the Set generation that added it
}

// Hit counters of registered secrets, by the form that matched. Detector
// rules follow.
const (
	hitSecret = iota // the value, its lines, JSON leaves and other plain forms
	hitBase64
	hitJSON
	hitURL
	hitXML
	hitShell
	hitHex
	hitUTF16
	hitCustom
	numSecretHits
)

// secretHitIDs names the secret hit counters in Set.Hits.
func secretHitIDs() [numSecretHits]string {
	return [numSecretHits]string{"secret", "secret-base64", "secret-json", "secret-url", "secret-xml",
		"secret-shell", "secret-hex", "secret-utf16", "secret-custom"}
}

// MinEncodedLength is the shortest encoded form of a secret (base64 core,
// escape, hex) that is registered, whatever Options.MinLength says: shorter
// ones would mask ordinary output.
const MinEncodedLength = 8

// minSectionLength is the shortest PowerShell colour section registered
// (as the GitHub runner).
const minSectionLength = 6

// A deriver collects the patterns of one secret.
type deriver struct {
	minLen   int
	encoders []func(string) string
	ansi     bool
	out      []pattern
	seen     map[string]bool
}

// variants returns the literal patterns that mask one secret: the value
// itself first, then the forms derived from it, without duplicates.
//
// Fragments (LF and CRLF forms, the trimmed, unquoted and
// whitespace-collapsed value, its lines, PowerShell colour sections, JSON
// string leaves) are parts or spellings of the value and must be at least
// minLen bytes; encoded forms (base64 cores, JSON, URL, XML and shell
// escapes, hex) at least max(minLen, MinEncodedLength). A value that is
// only white space contributes its encoded forms that are not.
//
// With ansi, patterns are matched against the output with escape sequences
// removed, so they are stripped the same way.
func variants(secret string, minLen int, encoders []func(string) string, ansi bool) []pattern {
	d := &deriver{minLen: minLen, encoders: encoders, ansi: ansi, seen: make(map[string]bool)}
	blank := strings.TrimSpace(secret) == ""
	if !blank {
		d.add(secret, hitSecret, tailNone, d.minLen)
	}
	d.forms(secret, !blank, true)
	return d.out
}

func (d *deriver) add(s string, hit, tail, minLen int) {
	if d.ansi {
		s = stripANSI(s)
	}
	if len(s) < minLen || s == "" || d.seen[s] {
		return
	}
	d.seen[s] = true
	d.out = append(d.out, pattern{s: s, hit: uint16(hit), tail: uint8(tail)})
}

// forms adds the fragments (if plain) and encodings of v; top says v is
// the registered value rather than one of its JSON leaves.
func (d *deriver) forms(v string, plain, top bool) {
	texts := []string{v}
	text := func(s string) {
		for _, t := range texts {
			if t == s {
				return
			}
		}
		if s != "" {
			texts = append(texts, s)
		}
	}
	if plain {
		if strings.ContainsAny(v, "\r\n") {
			// As a terminal (onlcr) or a Windows tool prints it, and as a
			// Unix tool prints a value stored with CRLF.
			lf := strings.ReplaceAll(v, "\r\n", "\n")
			text(lf)
			text(strings.ReplaceAll(lf, "\n", "\r\n"))
		}
		text(strings.TrimSpace(v))
		if n := len(v); n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n-1] == v[0] {
			text(v[1 : n-1])
		}
		if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
			// `echo $S` unquoted: words joined by single spaces.
			text(strings.Join(strings.Fields(v), " "))
		}
		for _, t := range texts[1:] {
			d.add(t, hitSecret, tailNone, d.minLen)
		}
		leaves, object := jsonLeaves(v)
		d.lines(v, object)
		d.sections(v)
		if top {
			for _, leaf := range leaves {
				if d.material(leaf.key, leaf.value, object) {
					d.add(leaf.value, hitSecret, tailNone, d.minLen)
					d.forms(leaf.value, true, false)
				}
			}
		}
	}
	minEnc := max(d.minLen, MinEncodedLength)
	addAll := func(forms []string, hit int) {
		for _, f := range forms {
			if plain || strings.TrimSpace(f) != "" {
				d.add(f, hit, tailNone, minEnc)
			}
		}
	}
	for _, t := range texts {
		for _, c := range base64Cores(t) {
			d.add(c.s, hitBase64, int(c.tail), minEnc)
		}
		addAll(jsonForms(t), hitJSON)
		addAll(urlForms(t), hitURL)
		addAll(xmlForms(t), hitXML)
		addAll(shellForms(t), hitShell)
		addAll(hexForms(t), hitHex)
		addAll(utf16Forms(t), hitUTF16)
		for _, enc := range d.encoders {
			if f := enc(t); plain || strings.TrimSpace(f) != "" {
				d.add(f, hitCustom, tailNone, d.minLen)
			}
		}
	}
}

// lines adds the lines of a multi-line value that are secret material
// (fragments.go): what survives `echo $S`, a YAML dump or a diff of the
// value. In a structured value (object says it is a JSON object, or a line
// is "key: value") those are the lines whose key names a secret, trimmed,
// and their values, with their encoded forms (a JSON object's are its
// leaves'), the values that look generated, and the lines without a key
// that do; in any other value each line, trimmed, that has a letter or
// digit and is not PEM armor. Lines with no letter or digit ("{", "},",
// "-----") and armor lines would mask unrelated output.
func (d *deriver) lines(v string, object bool) {
	if !strings.ContainsAny(v, "\r\n") {
		return
	}
	var lines []string
	structured := object
	for rest := v; rest != ""; {
		line := rest
		if i := strings.IndexAny(rest, "\r\n"); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
			if _, _, ok := keyedLine(line); ok {
				structured = true
			}
		}
	}
	for _, line := range lines {
		switch key, value, ok := keyedLine(line); {
		case !structured:
			if hasAlnum(line) && !isArmor(line) {
				d.add(line, hitSecret, tailNone, d.minLen)
			}
		case !ok:
			if looksGenerated(line) {
				d.add(line, hitSecret, tailNone, d.minLen)
			}
		case !d.material(key, value, true):
		case secretKey(key):
			d.add(line, hitSecret, tailNone, d.minLen)
			d.add(value, hitSecret, tailNone, d.minLen)
			if !object {
				d.forms(value, true, false)
			}
		default:
			d.add(value, hitSecret, tailNone, d.minLen)
		}
	}
}

// material reports whether a fragment of a secret (a JSON leaf, the value
// of a line), under key ("" if none), is registered: in a structured
// value, if the key names a secret, or if the value looks generated and
// the key does not name a public value nor locate or name something; in
// any other, if it is at least minLen bytes and not white space.
func (d *deriver) material(key, value string, structured bool) bool {
	switch {
	case !structured:
		return len(value) >= d.minLen && strings.TrimSpace(value) != ""
	case key != "" && secretKey(key):
		return namedSecret(value, d.minLen)
	case key != "" && publicKey(key):
		return false
	}
	return looksGenerated(value)
}

// sections adds the parts of a value with '&' that PowerShell prints on
// either side of a colour change when it reports the value in an error:
// up to and including the first "&+" (or the last '&'), and after it (after
// "&+" without the next character, which PowerShell colours).
func (d *deriver) sections(v string) {
	minLen := max(d.minLen, minSectionLength)
	if i := strings.Index(v, "&+"); i >= 0 {
		d.add(v[:i+2], hitSecret, tailNone, minLen)
		if i+3 <= len(v) {
			d.add(v[i+3:], hitSecret, tailNone, minLen)
		}
	} else if i := strings.LastIndexByte(v, '&'); i >= 0 {
		d.add(v[:i+1], hitSecret, tailNone, minLen)
		d.add(v[i+1:], hitSecret, tailNone, minLen)
	}
}

// A jsonLeaf is a string value of a JSON document and the key it is under
// (an array's elements are under the array's key; "" at the top).
type jsonLeaf struct{ key, value string }

// jsonLeaves returns the string values in v if v is a JSON object or
// array, in document order, and whether it has an object.
func jsonLeaves(v string) (leaves []jsonLeaf, object bool) {
	t := strings.TrimSpace(v)
	if t == "" || (t[0] != '{' && t[0] != '[') || !json.Valid([]byte(t)) {
		return nil, false
	}
	var doc any
	if json.Unmarshal([]byte(t), &doc) != nil {
		return nil, false
	}
	var walk func(key string, x any)
	walk = func(key string, x any) {
		switch x := x.(type) {
		case string:
			leaves = append(leaves, jsonLeaf{key, x})
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case map[string]any:
			// Keys are not secrets; values, in a stable order.
			object = true
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(k, x[k])
			}
		}
	}
	walk("", doc)
	return leaves, object
}

// isArmor reports whether line is a PEM armor line such as
// "-----BEGIN PRIVATE KEY-----".
func isArmor(line string) bool {
	return strings.HasPrefix(line, "-----BEGIN ") || strings.HasPrefix(line, "-----END ")
}

// skipReason says why a secret is not registered at all, or returns "".
// The reason never contains the value.
func skipReason(secret string, minLen int) string {
	switch {
	case secret == "":
		return "empty"
	case len(secret) < minLen:
		return fmt.Sprintf("shorter than the minimum length (%d bytes)", minLen)
	case len(secret) > MaxSecretLength:
		return fmt.Sprintf("longer than the maximum length (%d bytes)", MaxSecretLength)
	}
	return ""
}

// hasAlnum reports whether s contains a letter or a digit. Invalid UTF-8
// counts as one (binary values are not punctuation).
func hasAlnum(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
