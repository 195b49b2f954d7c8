package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

type signed struct {
	bundle  []byte
	pubPEM  []byte
	stmt    []byte
	subject []attest.Subject
}

func signExample(t *testing.T) signed {
	t.Helper()
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, subjects := attesttest.Statement(t)
	b, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatalf("sign.Statement: %v", err)
	}
	return signed{bundle: b, pubPEM: pubPEM, stmt: st, subject: subjects}
}

// wantFailure asserts that verification failed at the named check.
func wantFailure(t *testing.T, res *verify.Result, err error, check string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verification passed, want a %s failure", check)
	}
	var ve *verify.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *verify.Error", err, err)
	}
	if ve.Check != check {
		t.Fatalf("failed check = %q (%v), want %q", ve.Check, err, check)
	}
	if res == nil {
		t.Fatal("no Result for a failed verification")
	}
	if res.Verified || res.Statement != nil || res.Predicate != nil || res.Subjects != nil {
		t.Errorf("an unverified Result exposes content: %+v", res)
	}
	if c, ok := res.Check(check); !ok || c.Verdict != verify.VerdictFail || c.Detail == "" {
		t.Errorf("check %s = %+v, want a failure with a detail", check, c)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := signExample(t)
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	if err != nil {
		t.Fatalf("verify.Bundle: %v", err)
	}
	if !res.Verified {
		t.Fatal("Verified = false without an error")
	}
	for _, name := range []string{verify.CheckBundle, verify.CheckSignature, verify.CheckStatement, verify.CheckPredicateType, verify.CheckSubject, verify.CheckPredicate} {
		if c, ok := res.Check(name); !ok || c.Verdict != verify.VerdictPass {
			t.Errorf("check %s = %+v, want pass", name, c)
		}
	}
	if res.MatchedSubject == nil || res.MatchedSubject.Name != attesttest.RunURI {
		t.Errorf("matched subject = %+v, want the job subject", res.MatchedSubject)
	}
	if len(res.Subjects) != 2 || res.Statement.PredicateType != attest.PredicateTypeJob {
		t.Errorf("statement = %+v", res.Statement)
	}
	if res.Predicate == nil || res.Predicate.Job.RunURI != attesttest.RunURI || len(res.Predicate.Grants) != 3 ||
		res.Predicate.Grants[0].Revocation.Outcome != attest.RevocationRevoked {
		t.Errorf("predicate not decoded: %+v", res.Predicate)
	}
	// The Result is printable as JSON (--format json).
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("Result does not marshal: %v", err)
	}

	// The other subject verifies too, and so does the artifact itself.
	d := attest.Digest{Algorithm: "sha256", Hex: attesttest.HexSHA256("widgets tarball")}
	if _, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: &d}); err != nil {
		t.Errorf("file subject digest: %v", err)
	}
	if _, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, Artifact: strings.NewReader("widgets tarball")}); err != nil {
		t.Errorf("artifact reader: %v", err)
	}
}

func TestVerifyRejectsTamperedPayload(t *testing.T) {
	s := signExample(t)
	// Flip the lowest bit of the first digit of the run ID inside the
	// payload ('9' -> '8'): the statement stays valid JSON and still names
	// the same subjects, only the signature can catch it.
	tampered := attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
		env := attesttest.Envelope(m)
		payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(payload, []byte(`"runID":"9876543210"`))
		if i < 0 {
			t.Fatalf("runID not found in payload %s", payload)
		}
		i += len(`"runID":"`)
		payload[i] ^= 0x01
		if _, err := attest.ParseStatement(payload); err != nil {
			t.Fatalf("tampered payload is not a valid statement any more: %v", err)
		}
		env["payload"] = base64.StdEncoding.EncodeToString(payload)
	})
	if bytes.Equal(tampered, s.bundle) {
		t.Fatal("tampering changed nothing")
	}
	res, err := verify.Bundle(tampered, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckSignature)

	// Same with the subject check switched off: the signature still fails.
	res, err = verify.Bundle(tampered, verify.Options{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true})
	wantFailure(t, res, err, verify.CheckSignature)
}

func TestVerifyRejectsTamperedSignatureAndType(t *testing.T) {
	s := signExample(t)
	sigFlip := attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
		sig0 := attesttest.Envelope(m)["signatures"].([]any)[0].(map[string]any)
		raw, _ := base64.StdEncoding.DecodeString(sig0["sig"].(string))
		raw[len(raw)/2] ^= 0x80
		sig0["sig"] = base64.StdEncoding.EncodeToString(raw)
	})
	res, err := verify.Bundle(sigFlip, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckSignature)

	// The payload type is part of what DSSE signs.
	typeSwap := attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
		attesttest.Envelope(m)["payloadType"] = "application/json"
	})
	res, err = verify.Bundle(typeSwap, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckBundle)

	// A second signature is not allowed in a Sigstore bundle.
	twoSigs := attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
		env := attesttest.Envelope(m)
		sigs := env["signatures"].([]any)
		env["signatures"] = append(sigs, sigs[0])
	})
	res, err = verify.Bundle(twoSigs, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckSignature)
}

func TestVerifyRejectsWrongKey(t *testing.T) {
	s := signExample(t)
	_, otherPub, _ := sign.GenerateKey()
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: otherPub, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckSignature)

	// Pointing the hint at the other key changes nothing: the key given
	// by the caller is the one that counts.
	other, _ := verify.ParsePublicKeyPEM(otherPub)
	otherHint, _ := sign.PublicKeyHint(other)
	rehinted := attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
		m["verificationMaterial"].(map[string]any)["publicKey"].(map[string]any)["hint"] = otherHint
	})
	res, err = verify.Bundle(rehinted, verify.Options{PublicKeyPEM: otherPub, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckSignature)
}

func TestVerifyRejectsWrongPredicateType(t *testing.T) {
	s := signExample(t)
	res, err := verify.Bundle(s.bundle, verify.Options{
		PublicKeyPEM:   s.pubPEM,
		PredicateType:  "https://slsa.dev/provenance/v1",
		ArtifactDigest: attesttest.JobDigest(),
	})
	wantFailure(t, res, err, verify.CheckPredicateType)
	if c, _ := res.Check(verify.CheckSignature); c.Verdict != verify.VerdictPass {
		t.Errorf("signature check = %+v, want pass", c)
	}
	if !strings.Contains(err.Error(), attest.PredicateTypeJob) || !strings.Contains(err.Error(), "slsa.dev") {
		t.Errorf("error should name both types: %v", err)
	}

	// A statement of another type is refused by the default options,
	// which expect the job predicate type.
	privPEM, pubPEM, _ := sign.GenerateKey()
	kp, _ := sign.KeypairFromPEM(privPEM, nil)
	st, err := attest.NewStatement("https://example.com/other/v1", []attest.Subject{attest.JobSubject(attesttest.RunURI)}, map[string]any{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = verify.Bundle(b, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckPredicateType)
	// ... and accepted when that type is asked for.
	res, err = verify.Bundle(b, verify.Options{PublicKeyPEM: pubPEM, PredicateType: "https://example.com/other/v1", ArtifactDigest: attesttest.JobDigest()})
	if err != nil || res.Predicate != nil || string(res.Statement.Predicate) != `{"x":1}` {
		t.Errorf("other predicate type: res=%+v err=%v", res, err)
	}
}

func TestVerifyRejectsWrongSubject(t *testing.T) {
	s := signExample(t)
	other := attest.JobSubjectDigest(attesttest.RunURI + "x")
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: &other})
	wantFailure(t, res, err, verify.CheckSubject)
	if c, _ := res.Check(verify.CheckSignature); c.Verdict != verify.VerdictPass {
		t.Errorf("signature check = %+v, want pass (only the subject is wrong)", c)
	}
	if !strings.Contains(err.Error(), other.Hex) || !strings.Contains(err.Error(), attesttest.RunURI) {
		t.Errorf("error should name the digest and the subjects: %v", err)
	}

	res, err = verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, Artifact: strings.NewReader("widgets tarball!")})
	wantFailure(t, res, err, verify.CheckSubject)

	sha512 := attest.Digest{Algorithm: "sha512", Hex: strings.Repeat("ab", 64)}
	res, err = verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: &sha512})
	wantFailure(t, res, err, verify.CheckSubject)
}

func TestVerifyWithoutArtifactIsExplicit(t *testing.T) {
	s := signExample(t)
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := res.Check(verify.CheckSubject); c.Verdict != verify.VerdictSkip {
		t.Errorf("subject check = %+v, want skip", c)
	}
	if res.MatchedSubject != nil {
		t.Error("a matched subject was reported without a subject check")
	}
	// The predicate type is still checked.
	res, err = verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true, PredicateType: "https://example.com/x"})
	wantFailure(t, res, err, verify.CheckPredicateType)
}

func TestVerifyOptionMisuse(t *testing.T) {
	s := signExample(t)
	priv, _, _ := sign.GenerateKey()
	d := attesttest.JobDigest()
	bad := attest.Digest{Algorithm: "sha256", Hex: "abc"}
	cases := map[string]verify.Options{
		"zero options":         {},
		"no key":               {ArtifactDigest: d},
		"private key as key":   {PublicKeyPEM: priv, ArtifactDigest: d},
		"no subject":           {PublicKeyPEM: s.pubPEM},
		"digest and artifact":  {PublicKeyPEM: s.pubPEM, ArtifactDigest: d, Artifact: strings.NewReader("x")},
		"digest and unsafe":    {PublicKeyPEM: s.pubPEM, ArtifactDigest: d, WithoutArtifactUnsafe: true},
		"malformed digest":     {PublicKeyPEM: s.pubPEM, ArtifactDigest: &bad},
		"unsupported digest":   {PublicKeyPEM: s.pubPEM, ArtifactDigest: &attest.Digest{Algorithm: "md5", Hex: strings.Repeat("0", 32)}},
		"uppercase hex digest": {PublicKeyPEM: s.pubPEM, ArtifactDigest: &attest.Digest{Algorithm: "sha256", Hex: strings.ToUpper(d.Hex)}},
	}
	for name, opts := range cases {
		res, err := verify.Bundle(s.bundle, opts)
		if err == nil {
			t.Errorf("%s: verified", name)
			continue
		}
		if res != nil {
			t.Errorf("%s: got a Result for misused options", name)
		}
	}
}

func TestVerifyRejectsMalformedBundles(t *testing.T) {
	s := signExample(t)
	huge := make([]byte, attest.MaxBundleSize+1)
	res, err := verify.Bundle(huge, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckBundle)
	if !strings.Contains(err.Error(), "more than") {
		t.Errorf("size error: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":    nil,
		"not json": []byte("{"),
		"v0.4":     bytes.Replace(s.bundle, []byte("bundle.v0.3+json"), []byte("bundle.v0.4+json"), 1),
		"no envelope": attesttest.EditBundle(t, s.bundle, func(m map[string]any) {
			delete(m, "dsseEnvelope")
		}),
	} {
		res, err := verify.Bundle(b, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest()})
		if err == nil {
			t.Errorf("%s: verified", name)
			continue
		}
		wantFailure(t, res, err, verify.CheckBundle)
	}
}

// TestVerifyRejectsInvalidPredicate signs (bypassing NewStatement's
// checks) a job statement whose predicate breaks the contract.
func TestVerifyRejectsInvalidPredicate(t *testing.T) {
	privPEM, pubPEM, _ := sign.GenerateKey()
	kp, _ := sign.KeypairFromPEM(privPEM, nil)
	st, _ := attesttest.Statement(t)
	bad := bytes.Replace(st, []byte(`"outcome":"success"`), []byte(`"outcome":"great"`), 1)
	if bytes.Equal(bad, st) {
		t.Fatal("fixture did not change")
	}
	// sign.Statement refuses it: its self-verification includes the predicate.
	if _, err := sign.Statement(context.Background(), bad, kp, sign.StatementOptions{}); err == nil || !strings.Contains(err.Error(), "outcome") {
		t.Fatalf("sign.Statement accepted an invalid predicate: %v", err)
	}
	// Sign it directly with sigstore-go to see what verify.Bundle says.
	pb, err := sgsign.Bundle(&sgsign.DSSEData{Data: bad, PayloadType: attest.PayloadTypeInToto}, kp, sgsign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Bundle(b, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: attesttest.JobDigest()})
	wantFailure(t, res, err, verify.CheckPredicate)
}

func TestVerifyAppliesPolicy(t *testing.T) {
	s := signExample(t)
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest(),
		Policy: verify.Policy{RequireRevoked: true, RequireOutcome: attest.OutcomeSuccess}})
	wantFailure(t, res, err, verify.CheckRequireRevoked)
	if c, _ := res.Check(verify.CheckRequireOutcome); c.Verdict != verify.VerdictPass {
		t.Errorf("requireOutcome = %+v, want pass (every rule is reported)", c)
	}
	res, err = verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest(),
		Policy: verify.Policy{AllowScopes: []string{"db", "deploy", "repo-write"}}})
	if err != nil || !res.Verified {
		t.Fatalf("compliant bundle: %v", err)
	}
}

// The owner's rule sees each grant with the attested identity; a grant it
// refuses fails verification, named, and content stays unset.
func TestVerifyAppliesOwnerPolicy(t *testing.T) {
	s := signExample(t)
	var seen []string
	owner := func(id attest.Identity, g attest.Grant) string {
		seen = append(seen, id.Subject+" "+g.Scope)
		if g.Provider == "github" {
			return "github is not for this repository"
		}
		return ""
	}
	res, err := verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest(), Policy: verify.Policy{OwnerPolicy: owner}})
	wantFailure(t, res, err, verify.CheckOwnerPolicy)
	if c, _ := res.Check(verify.CheckOwnerPolicy); !strings.Contains(c.Detail, `grants[2] (scope "repo-write", provider github, principal acme/widgets): github is not for this repository`) {
		t.Errorf("ownerPolicy check = %+v", c)
	}
	if res.Predicate != nil || res.Verified {
		t.Error("a refused bundle's content was returned")
	}
	pred := attesttest.JobPredicate()
	if len(seen) != 3 || seen[0] != pred.Identity.Subject+" db" {
		t.Errorf("the rule saw %q", seen)
	}
	res, err = verify.Bundle(s.bundle, verify.Options{PublicKeyPEM: s.pubPEM, ArtifactDigest: attesttest.JobDigest(),
		Policy: verify.Policy{OwnerPolicy: func(attest.Identity, attest.Grant) string { return "" }}})
	if err != nil || !res.Verified {
		t.Fatalf("allowed by the owner: %v", err)
	}
	if c, _ := res.Check(verify.CheckOwnerPolicy); c.Verdict != verify.VerdictPass {
		t.Errorf("ownerPolicy = %+v, want pass", c)
	}
}
