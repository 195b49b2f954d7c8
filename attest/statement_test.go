package attest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
)

func TestJobSubject(t *testing.T) {
	s := attest.JobSubject(attesttest.RunURI)
	if s.Name != attesttest.RunURI {
		t.Errorf("name = %q, want the run URI", s.Name)
	}
	// Independently computed: printf %s URI | sha256sum.
	const want = "sha256"
	if got := s.Digest[want]; got != attesttest.HexSHA256(attesttest.RunURI) || len(got) != 64 {
		t.Errorf("digest = %q, want sha256 of the run URI", got)
	}
	if len(s.Digest) != 1 {
		t.Errorf("digest set has %d entries, want only sha256", len(s.Digest))
	}
	if d := attest.JobSubjectDigest(attesttest.RunURI); d.Algorithm != "sha256" || d.Hex != s.Digest["sha256"] {
		t.Errorf("JobSubjectDigest = %v, want sha256:%s", d, s.Digest["sha256"])
	}
	if attest.JobSubject("x").Digest["sha256"] != "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" {
		t.Error("sha256(\"x\") mismatch")
	}
}

func TestNewStatementShape(t *testing.T) {
	raw, subjects := attesttest.Statement(t)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["_type"] != "https://in-toto.io/Statement/v1" {
		t.Errorf("_type = %v", m["_type"])
	}
	if m["predicateType"] != attest.PredicateTypeJob {
		t.Errorf("predicateType = %v", m["predicateType"])
	}
	st, err := attest.ParseStatement(raw)
	if err != nil {
		t.Fatalf("ParseStatement: %v", err)
	}
	if !reflect.DeepEqual(st.Subject, subjects) {
		t.Errorf("subjects = %+v, want %+v", st.Subject, subjects)
	}
	var got attest.JobPredicate
	if err := json.Unmarshal(st.Predicate, &got); err != nil {
		t.Fatal(err)
	}
	want := attesttest.JobPredicate()
	// Compare through JSON: times lose their monotonic part either way.
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("predicate did not survive the statement:\n got %s\nwant %s", gj, wj)
	}
	// Stable bytes: the same input gives the same statement.
	again, _ := attesttest.Statement(t)
	if !bytes.Equal(raw, again) {
		t.Error("NewStatement is not deterministic")
	}
	// An unset ExpiresAt is omitted, not written as year 1.
	if strings.Contains(string(raw), "0001-01-01") {
		t.Error("zero time written into the statement")
	}
}

func TestNewStatementEmptyListsAreArrays(t *testing.T) {
	p := attesttest.JobPredicate()
	p.Grants, p.Steps, p.Refused, p.Identity.Audiences, p.Identity.TokenSHA256 = nil, nil, nil, nil, nil
	raw, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(attesttest.RunURI)}, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"grants":[]`, `"steps":[]`, `"refused":[]`, `"audiences":[]`, `"tokenSHA256":[]`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("statement lacks %s: %s", key, raw)
		}
	}
}

func TestNewStatementRejects(t *testing.T) {
	good := []attest.Subject{attest.JobSubject(attesttest.RunURI)}
	badOutcome := attesttest.JobPredicate()
	badOutcome.Outcome = "ok"
	badRevocation := attesttest.JobPredicate()
	badRevocation.Grants[0].Revocation.At = nil
	rawSecret := attesttest.JobPredicate()
	rawSecret.Grants[0].Fingerprint = "hvs.CAESIJ-not-a-digest-but-a-secret"
	cases := []struct {
		name      string
		predType  string
		subjects  []attest.Subject
		predicate any
		wantErr   string
	}{
		{"no subjects", attest.PredicateTypeJob, nil, attesttest.JobPredicate(), "subject"},
		{"subject without digest", attest.PredicateTypeJob, []attest.Subject{{Name: "x"}}, attesttest.JobPredicate(), "no digest"},
		{"short sha256", attest.PredicateTypeJob, []attest.Subject{{Name: "x", Digest: map[string]string{"sha256": "abcd"}}}, attesttest.JobPredicate(), "length"},
		{"non-hex sha256", attest.PredicateTypeJob, []attest.Subject{{Name: "x", Digest: map[string]string{"sha256": strings.Repeat("z", 64)}}}, attesttest.JobPredicate(), "hex"},
		{"job predicate under another type", "https://example.com/other/v1", good, attesttest.JobPredicate(), attest.PredicateTypeJob},
		{"bad outcome", attest.PredicateTypeJob, good, badOutcome, "outcome"},
		{"revoked without time", attest.PredicateTypeJob, good, badRevocation, "grants[0].revocation.at"},
		{"fingerprint not a digest", attest.PredicateTypeJob, good, rawSecret, "grants[0].credentialSHA256"},
		{"predicate not an object", "https://example.com/other/v1", good, []int{1}, "JSON object"},
		{"empty predicate type", "", good, map[string]string{"a": "b"}, "predicate type"},
		{"nil job predicate", attest.PredicateTypeJob, good, (*attest.JobPredicate)(nil), "nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := attest.NewStatement(c.predType, c.subjects, c.predicate)
			if err == nil {
				t.Fatal("NewStatement accepted it")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "hvs.CAESIJ") {
				t.Errorf("error echoes a secret-looking value: %q", err)
			}
		})
	}
}

func TestNewStatementOtherPredicate(t *testing.T) {
	raw, err := attest.NewStatement("https://example.com/custom/v1", []attest.Subject{attest.JobSubject("u")}, map[string]any{"k": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"predicate":{"k":1}`) {
		t.Errorf("statement: %s", raw)
	}
}

func TestParseStatementRejects(t *testing.T) {
	cases := map[string]string{
		"not json":     `{`,
		"legacy type":  `{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"x","predicate":{}}`,
		"no subject":   `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}`,
		"no digest":    `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x","predicate":{}}`,
		"no predType":  `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicate":{}}`,
		"no predicate": `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00"}}],"predicateType":"x"}`,
	}
	for name, in := range cases {
		if _, err := attest.ParseStatement([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFileSubjects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.bin", "bee")
	write("a.bin", "ay")
	write("notes.txt", "n")
	if err := os.Mkdir(filepath.Join(dir, "sub.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := attest.FileSubjects(filepath.Join(dir, "*.bin"), filepath.Join(dir, "a.*"))
	if err != nil {
		t.Fatal(err)
	}
	want := []attest.Subject{
		{Name: filepath.ToSlash(filepath.Join(dir, "a.bin")), Digest: map[string]string{"sha256": attesttest.HexSHA256("ay")}},
		{Name: filepath.ToSlash(filepath.Join(dir, "b.bin")), Digest: map[string]string{"sha256": attesttest.HexSHA256("bee")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := attest.FileSubjects(filepath.Join(dir, "*.exe")); err == nil || !strings.Contains(err.Error(), "matched no regular file") {
		t.Errorf("missing artifact: err = %v", err)
	}
	if _, err := attest.FileSubjects("["); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestParseDigest(t *testing.T) {
	h := attesttest.HexSHA256("x")
	d, err := attest.ParseDigest("SHA256:" + strings.ToUpper(h))
	if err != nil || d.Algorithm != "sha256" || d.Hex != h {
		t.Fatalf("ParseDigest = %v, %v", d, err)
	}
	for _, bad := range []string{h, "md5:" + h, "sha256:" + h[:10], "sha256:" + strings.Repeat("g", 64), "sha512:" + h} {
		if _, err := attest.ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}
