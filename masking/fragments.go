package masking

import (
	"slices"
	"strings"
	"unicode"
)

// Which fragments of a multi-line or JSON secret are secret material.
//
// A secret is masked whole (with its line-ending, trimmed, unquoted and
// collapsed forms and their encodings) whatever it holds. Its fragments,
// the lines of a multi-line value and the string leaves of a JSON value,
// are masked on their own wherever they appear, so they must be secret
// material, not the structure around it: registering a kubeconfig must not
// mask "apiVersion: v1" or "name: prod" in every later line of the log,
// nor a service account key "service_account", "googleapis.com" or the
// project id.
//
// A value is structured when it is a JSON object or has a line of the
// form "key: value" or "key = value" (YAML, JSON, INI, TOML, .env; also
// "- key: value", `"key": "value",` and "export KEY=value"). In a
// structured value a fragment is registered when
//   - its key names a secret: a word of it (split at non-letters and at
//     lower-to-upper case changes) is one of secretWords, no word is
//     "public", and its last word is not one of locatorWords (so
//     "client_secret", "client-key-data", "token", "password" and
//     "privateKey" do; "token_uri", "private_key_id", "publicKey" do not);
//     the value then needs only Options.MinLength bytes, and is not
//     registered if it is a URL or a file path, or a placeholder such as
//     "true" or "null";
//   - or, under no key or another key, it looks generated
//     (looksGenerated): at least
//     minGeneratedLength bytes without white space, not a URL, e-mail
//     address, host name or UUID, whose characters change between the
//     classes lower case, upper case, digit and other at least once every
//     three characters and at most a third of which are in runs of four
//     or more letters of one case (words), as in base64, hex, JWTs and
//     most API keys, not in names ("gke_acme-prod_europe-west1_prod"),
//     URLs, e-mail addresses and prose.
//
// A value under a key that names a public value (with a word of
// publicWords: "certificate-authority-data") or locates or names
// something (its last word one of locatorWords: "private_key_id",
// "project_id", "token_uri") is not registered unless the key names a
// secret ("cert_key"), however generated it looks.
//
// A line or leaf without a key (an element of a JSON array, a line of a
// PEM block in a YAML value) is registered when it looks generated. An
// unstructured value (a PEM key, a list of tokens, "user\npassword") has
// every line registered that is at least Options.MinLength bytes, has a
// letter or digit and is not PEM armor.

// minGeneratedLength is the shortest fragment that looksGenerated.
const minGeneratedLength = 16

// secretWords are the words of a key that name a secret.
func secretWords() []string {
	return []string{"secret", "secrets", "password", "passwords", "passwd", "pwd", "pass", "passphrase",
		"token", "tokens", "key", "keys", "apikey", "privatekey", "credential", "credentials", "cred",
		"creds", "auth", "authorization", "cookie", "cookies", "session", "signature", "private"}
}

// locatorWords are last words of a key whose value names or locates
// something rather than being secret ("token_uri", "key_id").
func locatorWords() []string {
	return []string{"id", "ids", "uri", "uris", "url", "urls", "endpoint", "endpoints", "type", "types",
		"name", "names", "email", "host", "hosts", "domain", "path", "file", "filename", "region", "zone",
		"version", "format", "algorithm", "alg", "expiry", "expires", "expiration", "length", "size",
		"count", "enabled", "method", "mode", "scope", "scopes", "issuer", "audience", "kind", "provider"}
}

// publicWords are the words of a key whose value is public however
// generated it looks: certificates and digests.
func publicWords() []string {
	return []string{"public", "certificate", "certificates", "cert", "certs", "fingerprint", "thumbprint",
		"checksum", "digest", "hash", "sha", "sha1", "sha256", "sha512", "etag"}
}

// keyWords splits a key into lower-case words at non-letters and at a
// lower-case or digit to upper-case change ("clientSecret", "client-secret",
// "CLIENT_SECRET" are all client, secret).
func keyWords(key string) []string {
	var words []string
	var cur []rune
	var prev rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range key {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return words
}

// secretKey reports whether a key names a secret.
func secretKey(key string) bool {
	words := keyWords(key)
	if len(words) == 0 {
		return false
	}
	secret := false
	for _, w := range words {
		if w == "public" {
			return false
		}
		secret = secret || slices.Contains(secretWords(), w)
	}
	return secret && !slices.Contains(locatorWords(), words[len(words)-1])
}

// publicKey reports whether a key names a public value or locates or
// names something.
func publicKey(key string) bool {
	words := keyWords(key)
	for _, w := range words {
		if slices.Contains(publicWords(), w) {
			return true
		}
	}
	return len(words) > 0 && slices.Contains(locatorWords(), words[len(words)-1])
}

// namedSecret reports whether v, the value of a key that names a secret,
// is registered.
func namedSecret(v string, minLen int) bool {
	t := strings.TrimSpace(v)
	if len(t) < minLen || isURL(t) || isPath(t) {
		return false
	}
	switch strings.ToLower(t) {
	case "true", "false", "null", "none", "nil", "yes", "no", "on", "off", "empty", "redacted":
		return false
	}
	return true
}

// looksGenerated reports whether s looks like generated secret material
// rather than a name, an address or text (see the rule above).
func looksGenerated(s string) bool {
	if len(s) < minGeneratedLength || strings.IndexFunc(s, unicode.IsSpace) >= 0 ||
		isURL(s) || isEmail(s) || isHostName(s) || isUUID(s) {
		return false
	}
	class := func(c byte) int {
		switch {
		case c >= 'a' && c <= 'z':
			return 0
		case c >= 'A' && c <= 'Z':
			return 1
		case c >= '0' && c <= '9':
			return 2
		}
		return 3
	}
	changes, words, run := 0, 0, 1
	for i := 1; i <= len(s); i++ {
		if i < len(s) && class(s[i]) == class(s[i-1]) {
			run++
			continue
		}
		if c := class(s[i-1]); c <= 1 && run >= 4 {
			words += run
		}
		if i < len(s) {
			changes++
		}
		run = 1
	}
	return 3*changes >= len(s) && 3*words < len(s)
}

func isURL(s string) bool {
	i := strings.Index(s, "://")
	return i > 0 && strings.IndexFunc(s[:i], func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) < 0
}

func isPath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~/") || strings.HasPrefix(s, "./") ||
		strings.HasPrefix(s, "../") || len(s) > 2 && s[1] == ':' && (s[2] == '\\' || s[2] == '/')
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.IndexByte(s[at+1:], '.') > 0
}

// isHostName reports whether s is dotted labels of letters, digits and
// hyphens ("oauth2.googleapis.com", "10.0.0.1").
func isHostName(s string) bool {
	if !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || strings.IndexFunc(label, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return false
		}
	}
	return true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// keyedLine splits a line of a structured value into its key and value:
// "key: value", "- key: value", `"key": "value",`, "key = value",
// "export KEY=value". The value loses a trailing comma and its quotes. A
// line such as a URL ("https://…") or a base64 line ending in padding is
// not keyed.
func keyedLine(line string) (key, value string, ok bool) {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "- ")
	s = strings.TrimPrefix(s, "export ")
	if strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", "", false
		}
		key, s = s[1:1+end], s[2+end:]
	} else {
		n := 0
		for n < len(s) && (isAlnum(s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.') {
			n++
		}
		key, s = s[:n], s[n:]
	}
	s = strings.TrimLeft(s, " \t")
	if key == "" || s == "" || s[0] != ':' && s[0] != '=' {
		return "", "", false
	}
	sep := s[0]
	s = strings.TrimSpace(s[1:])
	if sep == ':' && strings.HasPrefix(s, "//") || sep == '=' && (s == "" || s[0] == '=') {
		return "", "", false
	}
	s = strings.TrimSuffix(s, ",")
	if n := len(s); n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n-1] == s[0] {
		s = s[1 : n-1]
	}
	return key, s, true
}
