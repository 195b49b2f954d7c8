package masking_test

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/masking"
)

// TestSetVariants checks that the variants a literal-only masker is given
// cover what the Set itself masks: the value, its encodings, its lines.
func TestSetVariants(t *testing.T) {
	set := masking.NewSet(masking.Options{})
	secret := "s3cr3t/value+with&chars\nsecond-line"
	vs := set.Variants(secret)
	if len(vs) == 0 || vs[0] != secret {
		t.Fatalf("Variants()[0] = %q, want the value itself first", firstVariant(vs))
	}
	if set.Len() != 0 {
		t.Errorf("Variants registered the secret")
	}
	has := func(what, want string) {
		t.Helper()
		if !slices.Contains(vs, want) {
			t.Errorf("no %s variant %q among %d", what, want, len(vs))
		}
	}
	has("line", "second-line")
	has("URL-escaped", url.QueryEscape(secret))
	has("JSON-escaped", `s3cr3t/value+with\u0026chars\nsecond-line`)
	// A base64 variant is a stable core: a substring of the full encoding.
	enc := base64.StdEncoding.EncodeToString([]byte(secret))
	core := false
	for _, v := range vs {
		core = core || (len(v) >= masking.MinEncodedLength && strings.Contains(enc, v))
	}
	if !core {
		t.Errorf("no variant is a base64 core of the value")
	}
	// Every variant is one the Set masks once the secret is added.
	set.Add(secret)
	for _, v := range vs {
		if got := set.MaskString("<" + v + ">"); strings.Contains(got, v) {
			t.Errorf("variant %q is not masked by the Set: %q", v, got)
		}
	}
	for _, v := range set.Variants("pässwörd-ключ-Ω123") {
		if strings.ContainsRune(v, 0) {
			t.Errorf("variant %q has a NUL byte, which no workflow command carries", v)
		}
	}
	if got := set.Variants("abc"); got != nil {
		t.Errorf("Variants of a secret below the minimum length = %q, want none", got)
	}
}

func firstVariant(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
