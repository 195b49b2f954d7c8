package masking

import (
	"bytes"
	"strings"
	"testing"
)

func TestDetectors(t *testing.T) {
	set := NewSet(Options{Mask: "#"})
	for _, c := range []struct{ in, want string }{
		// Token prefixes: the prefix stays, the token characters after it
		// are masked whatever their length; no body, no match.
		{"glpat-t", "glpat-#"},
		{"glpat- x", "glpat- x"},
		{"Lorglpat-ipsu dolor", "Lorglpat-# dolor"},
		{"glpat-impglpat-erdiet end", "glpat-# end"},
		{"a=glrt-abc.def_-x=y!", "a=glrt-#!"},
		{"_gitlab_session=0123abcd; path=/", "_gitlab_session=#; path=/"},
		{"ghp_aBc123 ghs_X gho_y ghu_z ghr_w", "ghp_# ghs_# gho_# ghu_# ghr_#"},
		{"github_pat_11AB_cd-ef", "github_pat_#-ef"},
		{"xoxb-123-456-abc xapp-1-A", "xoxb-# xapp-#"},
		{"npm_AbC123. hvs.CAES_x-y hvb.z", "npm_#. hvs.# hvb.#"},
		{"gh_x npmx_ hvs_x", "gh_x npmx_ hvs_x"},
		// AWS key ids: AKIA or ASIA and 16 of [A-Z2-7], then the rest of the
		// alphanumeric run; fewer is not a key.
		{"AKIAIOSFODNN7EXAMPLE", "AKIA#"},
		{"id=ASIAIOSFODNN7EXAMPLExyz,", "id=ASIA#,"},
		{"AKIAIOSFODNN7EXAMP", "AKIAIOSFODNN7EXAMP"},
		{"AKIAIOSFODNN1EXAMPLE", "AKIAIOSFODNN1EXAMPLE"}, // 1 is not base32
		{"EURASIAN", "EURASIAN"},
		// JWTs: the header and the payload's "eyJ" stay; the rest goes.
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL3Rva2VuIn0.c2ln-_x", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJ#"},
		{"file.eyJa x.eyJB", "file.eyJa x.eyJB"}, // 'a' and 'B' do not start a claim name
		// PEM private keys: header and the rest of its line stay, the key and
		// the footer go.
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\nnext", "-----BEGIN OPENSSH PRIVATE KEY-----#\nnext"},
		{`"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"`, `"-----BEGIN PRIVATE KEY-----#\n"`},
		{"-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n-----END PGP PRIVATE KEY BLOCK-----", "-----BEGIN PGP PRIVATE KEY BLOCK-----#"},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		// Credential query parameters, any case, to the next parameter.
		{"GET /x?X-Amz-Signature=ab12&X-Amz-Date=1 200", "GET /x?X-Amz-Signature=#&X-Amz-Date=1 200"},
		{"?x-amz-credential=AKID%2F2024 &PRIVATE_TOKEN=t0k", "?x-amz-credential=# &PRIVATE_TOKEN=#"},
		{"&sig=abc\"rest", "&sig=#\"rest"},
		{`"https://x/?a=1\u0026access_token=abc\u0026b=2"`, `"https://x/?a=1\u0026access_token=#\u0026b=2"`},
		{"?signature=abc sig=abc", "?signature=abc sig=abc"},
		// URL passwords.
		{"git clone https://oauth2:glpat-abc@gitlab.com/x.git", "git clone https://oauth2:#@gitlab.com/x.git"},
		{"postgres://app:p@:ss w0rd@db", "postgres://app:#@:ss w0rd@db"},
		{"ssh://git@github.com:22/x", "ssh://git@github.com:22/x"},
		{"http://localhost:8080/health", "http://localhost:8080/health"},
		{"https://:token@host", "https://:token@host"},
	} {
		if got := checkSplits(t, set, c.in); got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// A detector holds back exactly the part it masks once the match is
// complete: the key characters after AKIA, a URL password before its '@'.
// Token runs are masked as they stream, holding nothing.
func TestDetectorHoldback(t *testing.T) {
	set := NewSet(Options{Mask: "#"})
	var rec recorder
	w := set.NewWriter(&rec)
	step := func(in, out string, held int) {
		t.Helper()
		before := len(rec.writes)
		mustWrite(t, w, in)
		if got := strings.Join(rec.writes[before:], ""); got != out || w.Buffered() != held {
			t.Fatalf("Write(%q): passed on %q holding %d, want %q holding %d", in, got, w.Buffered(), out, held)
		}
	}
	step("key AKIAIOSF", "key AKIA", 4)
	step("ODNN7EXAMP", "", 14)
	step("LE and", "# and", 0)
	step(" glpat-abc", " glpat-#", 0)
	step("def", "", 0)                      // the open run grows: nothing to pass on
	step(" https://u:pa", " https://u:", 2) // the run ends; its token is out
	step("ss@h", "#@h", 0)
	step(" https://u:pass/x", " https://u:pass/x", 0)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDetectorHits(t *testing.T) {
	set := NewSet(Options{TokenPrefixes: []string{"tok-"}, Rules: []Rule{{ID: "pw", Prefix: "password=", IgnoreCase: true, MaskPrefix: true, Body: BodyNonSpace}}})
	set.Add("registered-secret")
	in := "glpat-a glpat-b AKIAIOSFODNN7EXAMPLE tok-x PASSWORD=y registered-secret cmVnaXN0ZXJlZC1zZWNyZXQ= https://u:p@h"
	stream(t, set, splitAt(in, 7, 20, 60)...)
	want := map[string]int{DetectGitLabToken: 2, DetectAWSKeyID: 1, "token-prefix": 1, "pw": 1, "secret": 1, "secret-base64": 1, DetectURLPassword: 1}
	got := set.Hits()
	for id, n := range want {
		if got[id] != n {
			t.Errorf("hits[%s] = %d, want %d (%v)", id, got[id], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}

func TestDetectorSelection(t *testing.T) {
	none := NewSet(Options{Detectors: []string{}})
	if got := none.MaskString("glpat-abc AKIAIOSFODNN7EXAMPLE"); got != "glpat-abc AKIAIOSFODNN7EXAMPLE" {
		t.Fatalf("no detectors: %q", got)
	}
	aws := NewSet(Options{Detectors: []string{DetectAWSKeyID}})
	if got := aws.MaskString("glpat-abc AKIAIOSFODNN7EXAMPLE"); got != "glpat-abc AKIA***" {
		t.Fatalf("only AWS: %q", got)
	}
	if err := (Options{Detectors: []string{"aws"}, TokenPrefixes: []string{"ab"}, Rules: []Rule{{Prefix: "abc", Body: 7}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), `unknown detector "aws"`) || !strings.Contains(err.Error(), "shorter than 3") || !strings.Contains(err.Error(), "unknown body") {
		t.Fatalf("Validate: %v", err)
	}
	if err := (Options{Rules: []Rule{{Prefix: "abcdefghij", IgnoreCase: true, MaskPrefix: true}}}).Validate(); err == nil {
		t.Fatal("a masked prefix with 10 letters in any case is accepted")
	}
	if err := (Options{TokenPrefixes: []string{"tok-"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCustomRules(t *testing.T) {
	set := NewSet(Options{Mask: "#", Detectors: []string{}, Rules: []Rule{
		{ID: "a", Prefix: "Secret:", IgnoreCase: true, Body: BodyNonSpace},
		{ID: "b", Prefix: "Password=", MaskPrefix: true, Body: BodyLine},
		{ID: "c", Prefix: "key=", IgnoreCase: true, MaskPrefix: true},
		{ID: "bad", Prefix: "x"},
	}})
	for in, want := range map[string]string{
		"SECRET:a/b+c d":             "SECRET:# d",
		"x Password=p w d\r\nnext":   "x #\r\nnext",
		"Password=":                  "#",
		"KeY=abc-1.2 rest":           "# rest",
		"key=":                       "#",
		"xyz":                        "xyz",
		"secret: notthebody secret:": "secret: notthebody secret:",
	} {
		if got := checkSplits(t, set, in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// The masked runs of detectors merge with secrets they touch, as matches
// of secrets do.
func TestDetectorsMergeWithSecrets(t *testing.T) {
	set := newSet(t, Options{Mask: "#"}, "zzz-secret-zzz")
	var out bytes.Buffer
	w := set.NewWriter(&out)
	mustWrite(t, w, "glpat-abc")
	mustWrite(t, w, "zzz-secret-zzz!")
	w.Close()
	if out.String() != "glpat-#!" {
		t.Fatalf("got %q", out.String())
	}
}
