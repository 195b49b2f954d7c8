package masking

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// variants returns the literal byte patterns that mask one secret: the
// value itself first, then the forms derived from it. Every pattern a
// secret contributes is derived here, so this is where encodings (base64
// cores, JSON, URL, XML and shell escapes, hex) will be added.
//
// The secret has already passed the checks in skipReason. Derived patterns
// shorter than minLen are dropped; the raw value never is. The result holds
// no duplicates.
func variants(secret string, minLen int) []string {
	out := []string{secret}
	add := func(p string) {
		if len(p) < minLen {
			return
		}
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	if strings.ContainsAny(secret, "\r\n") {
		// The same value as a terminal (onlcr) or a Windows tool prints it,
		// and as a Unix tool prints a value stored with CRLF.
		lf := strings.ReplaceAll(secret, "\r\n", "\n")
		add(lf)
		add(strings.ReplaceAll(lf, "\n", "\r\n"))
	}
	// Each line, trimmed: what survives `echo $S`, a YAML dump or a diff of
	// a multi-line value. For a one-line value with surrounding whitespace
	// this is the trimmed value. Lines with no letter or digit ("{", "},",
	// "-----") would mask unrelated output and are not registered.
	rest := secret
	for rest != "" {
		line := rest
		if i := strings.IndexAny(rest, "\r\n"); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		line = strings.TrimSpace(line)
		if hasAlnum(line) {
			add(line)
		}
	}
	return out
}

// skipReason says why a secret is not registered at all, or returns "".
// The reason never contains the value.
func skipReason(secret string, minLen int) string {
	switch {
	case secret == "":
		return "empty"
	case len(secret) < minLen:
		return fmt.Sprintf("shorter than the minimum length (%d bytes)", minLen)
	case strings.TrimSpace(secret) == "":
		return "whitespace only"
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
