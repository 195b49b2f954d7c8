package masking

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestParseSecretsFile(t *testing.T) {
	for _, c := range []struct {
		name, data string
		want       []string
		err        string
	}{
		{"lines", "one-secret\ntwo-secret\n", []string{"one-secret", "two-secret"}, ""},
		{"CRLF and blank lines", "one-secret\r\n\r\n  spaced  \r\nlast", []string{"one-secret", "  spaced  ", "last"}, ""},
		{"BOM", "\xef\xbb\xbfone-secret\n", []string{"one-secret"}, ""},
		{"empty", "", nil, ""},
		{"bracket inside a line", "pa[ss\n[not-json", []string{"pa[ss", "[not-json"}, ""},
		{"not first byte", "x[1]\n", []string{"x[1]"}, ""},
		{"JSON", ` ["one-secret", "multi\nline\u0021", null, ""]`, []string{"one-secret", "multi\nline!", ""}, ""},
		{"JSON BOM", "\xef\xbb\xbf[\"a-secret\"]\n", []string{"a-secret"}, ""},
		{"JSON empty", "[]", nil, ""},
		{"JSON number", `["ok", 12345]`, nil, "is a JSON number, not a string"},
		{"JSON object", `[{"k": "hunter22"}]`, nil, "not a string"},
		{"JSON syntax", `["hunter22" "x"]`, nil, "invalid JSON at byte"},
		{"JSON unterminated", `["hunter22"`, nil, "invalid JSON"},
		{"JSON trailing data", `["a"] hunter22`, nil, "data after the JSON array"},
		{"JSON two arrays", `["a"]["b"]`, nil, "data after the JSON array"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSecretsFile([]byte(c.data))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "hunter22") {
					t.Fatalf("error quotes the file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseSecretsFileBounds(t *testing.T) {
	if _, err := ParseSecretsFile(make([]byte, MaxSecretsFileSize+1)); err == nil {
		t.Fatal("oversized file accepted")
	}
	many := strings.Repeat("s\n", MaxSecretsInFile+1)
	if _, err := ParseSecretsFile([]byte(many)); err == nil {
		t.Fatal("too many lines accepted")
	}
	manyJSON := "[" + strings.Repeat(`"s",`, MaxSecretsInFile) + `"s"]`
	if _, err := ParseSecretsFile([]byte(manyJSON)); err == nil {
		t.Fatal("too many JSON elements accepted")
	}
	ok, err := ParseSecretsFile([]byte(strings.Repeat("s\n", MaxSecretsInFile)))
	if err != nil || len(ok) != MaxSecretsInFile {
		t.Fatalf("%d secrets, %v", len(ok), err)
	}
}

// secretsFileError is every message ParseSecretsFile returns.
var secretsFileError = regexp.MustCompile(`^masking: secrets file( is larger than \d+ bytes| holds more than \d+ secrets|: invalid JSON at byte \d+|: element at byte \d+ is a JSON \w+, not a string|: invalid JSON array of strings|: data after the JSON array)$`)

// FuzzParseSecretsFile: any file parses or fails with an error that quotes
// none of it, and what it yields obeys the format: no empty secrets, and
// outside a JSON array no line breaks and every secret a line of the file.
func FuzzParseSecretsFile(f *testing.F) {
	for _, seed := range []string{
		"s3cret\nother-secret\r\n\n",
		`["a\nb", null, "c"]`,
		"\xef\xbb\xbf  [\"x\"]",
		`[1]`, `["unterminated`, "[\"ok\"] trailing",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		secrets, err := ParseSecretsFile(data)
		if err != nil {
			if !secretsFileError.MatchString(err.Error()) {
				t.Fatalf("error %q is not one of the messages that quote nothing", err)
			}
			return
		}
		if len(secrets) > MaxSecretsInFile {
			t.Fatalf("%d secrets", len(secrets))
		}
		body := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
		jsonArray := len(body) > 0 && body[0] == '['
		for _, s := range secrets {
			if jsonArray {
				continue // any string, empty included
			}
			if s == "" || strings.ContainsAny(s, "\n") || !bytes.Contains(data, []byte(s)) {
				t.Fatalf("line secret %q from %q", s, data)
			}
		}
	})
}
