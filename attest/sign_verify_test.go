package attest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

type signed struct {
	bundle  []byte
	pubPEM  []byte
	stmt    []byte
	subject []Subject
}

func signExample(t *testing.T) signed {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, subjects := exampleStatement(t)
	b, err := Sign(context.Background(), st, kp, SignOptions{})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signed{bundle: b, pubPEM: pubPEM, stmt: st, subject: subjects}
}

func jobDigest() *Digest {
	d := JobSubjectDigest(testRunURI)
	return &d
}

// wantFailure asserts that verification failed at the named check.
func wantFailure(t *testing.T, res *Result, err error, check string) {
	t.Helper()
	if err == nil {
		t.Fatalf("verification passed, want a %s failure", check)
	}
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *VerificationError", err, err)
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
	if c, ok := res.Check(check); !ok || c.Verdict != VerdictFail || c.Detail == "" {
		t.Errorf("check %s = %+v, want a failure with a detail", check, c)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := signExample(t)
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.Verified {
		t.Fatal("Verified = false without an error")
	}
	for _, name := range []string{CheckBundle, CheckSignature, CheckStatement, CheckPredicateType, CheckSubject, CheckPredicate} {
		if c, ok := res.Check(name); !ok || c.Verdict != VerdictPass {
			t.Errorf("check %s = %+v, want pass", name, c)
		}
	}
	if res.MatchedSubject == nil || res.MatchedSubject.Name != testRunURI {
		t.Errorf("matched subject = %+v, want the job subject", res.MatchedSubject)
	}
	if len(res.Subjects) != 2 || res.Statement.PredicateType != PredicateTypeJob {
		t.Errorf("statement = %+v", res.Statement)
	}
	if res.Predicate == nil || res.Predicate.Job.RunURI != testRunURI || len(res.Predicate.Grants) != 3 ||
		res.Predicate.Grants[0].Revocation.Outcome != RevocationRevoked {
		t.Errorf("predicate not decoded: %+v", res.Predicate)
	}
	// The Result is printable as JSON (--format json).
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("Result does not marshal: %v", err)
	}

	// The other subject verifies too, and so does the artifact itself.
	d := Digest{Algorithm: "sha256", Hex: hexSHA256("widgets tarball")}
	if _, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: &d}); err != nil {
		t.Errorf("file subject digest: %v", err)
	}
	if _, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, Artifact: strings.NewReader("widgets tarball")}); err != nil {
		t.Errorf("artifact reader: %v", err)
	}
}

// TestBundleShape checks what stock cosign needs: media type v0.3, a
// public key hint, a DSSE envelope with an in-toto payload and one
// signature without a keyid.
func TestBundleShape(t *testing.T) {
	s := signExample(t)
	var b struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey *struct {
				Hint string `json:"hint"`
			} `json:"publicKey"`
			Certificate json.RawMessage `json:"certificate"`
			TlogEntries json.RawMessage `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		DSSEEnvelope *struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig   []byte  `json:"sig"`
				KeyID *string `json:"keyid"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
		MessageSignature json.RawMessage `json:"messageSignature"`
	}
	if err := json.Unmarshal(s.bundle, &b); err != nil {
		t.Fatal(err)
	}
	if b.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("mediaType = %q", b.MediaType)
	}
	pub, _ := ParsePublicKeyPEM(s.pubPEM)
	hint, _ := PublicKeyHint(pub)
	if b.VerificationMaterial.PublicKey == nil || b.VerificationMaterial.PublicKey.Hint != hint {
		t.Errorf("publicKey.hint = %+v, want %q", b.VerificationMaterial.PublicKey, hint)
	}
	if b.VerificationMaterial.Certificate != nil || b.VerificationMaterial.TlogEntries != nil || b.MessageSignature != nil {
		t.Error("unexpected certificate, tlog entries or message signature")
	}
	if b.DSSEEnvelope == nil {
		t.Fatal("no dsseEnvelope")
	}
	if b.DSSEEnvelope.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("payloadType = %q", b.DSSEEnvelope.PayloadType)
	}
	if !bytes.Equal(b.DSSEEnvelope.Payload, s.stmt) {
		t.Error("payload is not the statement")
	}
	if len(b.DSSEEnvelope.Signatures) != 1 || len(b.DSSEEnvelope.Signatures[0].Sig) == 0 {
		t.Fatalf("signatures = %+v, want exactly one", b.DSSEEnvelope.Signatures)
	}
	if k := b.DSSEEnvelope.Signatures[0].KeyID; k != nil && *k != "" {
		t.Errorf("keyid = %q, want empty", *k)
	}
	// Exactly the sha256 of the run URI is a subject digest.
	sum := sha256.Sum256([]byte(testRunURI))
	if !strings.Contains(string(b.DSSEEnvelope.Payload), base64.StdEncoding.EncodeToString(sum[:])) &&
		!strings.Contains(string(b.DSSEEnvelope.Payload), hexSHA256(testRunURI)) {
		t.Error("job subject digest not in the payload")
	}
}

// editBundle decodes the bundle, lets f change it, and re-encodes it.
func editBundle(t *testing.T, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func envelope(m map[string]any) map[string]any { return m["dsseEnvelope"].(map[string]any) }

func TestVerifyRejectsTamperedPayload(t *testing.T) {
	s := signExample(t)
	// Flip the lowest bit of the first digit of the run ID inside the
	// payload ('9' -> '8'): the statement stays valid JSON and still names
	// the same subjects, only the signature can catch it.
	tampered := editBundle(t, s.bundle, func(m map[string]any) {
		env := envelope(m)
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
		if _, err := ParseStatement(payload); err != nil {
			t.Fatalf("tampered payload is not a valid statement any more: %v", err)
		}
		env["payload"] = base64.StdEncoding.EncodeToString(payload)
	})
	if bytes.Equal(tampered, s.bundle) {
		t.Fatal("tampering changed nothing")
	}
	res, err := Verify(tampered, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckSignature)

	// Same with the subject check switched off: the signature still fails.
	res, err = Verify(tampered, VerifyOptions{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true})
	wantFailure(t, res, err, CheckSignature)
}

func TestVerifyRejectsTamperedSignatureAndType(t *testing.T) {
	s := signExample(t)
	sigFlip := editBundle(t, s.bundle, func(m map[string]any) {
		sig0 := envelope(m)["signatures"].([]any)[0].(map[string]any)
		raw, _ := base64.StdEncoding.DecodeString(sig0["sig"].(string))
		raw[len(raw)/2] ^= 0x80
		sig0["sig"] = base64.StdEncoding.EncodeToString(raw)
	})
	res, err := Verify(sigFlip, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckSignature)

	// The payload type is part of what DSSE signs.
	typeSwap := editBundle(t, s.bundle, func(m map[string]any) {
		envelope(m)["payloadType"] = "application/json"
	})
	res, err = Verify(typeSwap, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckBundle)

	// A second signature is not allowed in a Sigstore bundle.
	twoSigs := editBundle(t, s.bundle, func(m map[string]any) {
		env := envelope(m)
		sigs := env["signatures"].([]any)
		env["signatures"] = append(sigs, sigs[0])
	})
	res, err = Verify(twoSigs, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckSignature)
}

func TestVerifyRejectsWrongKey(t *testing.T) {
	s := signExample(t)
	_, otherPub, _ := GenerateKey()
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: otherPub, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckSignature)

	// Pointing the hint at the other key changes nothing: the key given
	// by the caller is the one that counts.
	other, _ := ParsePublicKeyPEM(otherPub)
	otherHint, _ := PublicKeyHint(other)
	rehinted := editBundle(t, s.bundle, func(m map[string]any) {
		m["verificationMaterial"].(map[string]any)["publicKey"].(map[string]any)["hint"] = otherHint
	})
	res, err = Verify(rehinted, VerifyOptions{PublicKeyPEM: otherPub, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckSignature)
}

func TestVerifyRejectsWrongPredicateType(t *testing.T) {
	s := signExample(t)
	res, err := Verify(s.bundle, VerifyOptions{
		PublicKeyPEM:   s.pubPEM,
		PredicateType:  "https://slsa.dev/provenance/v1",
		ArtifactDigest: jobDigest(),
	})
	wantFailure(t, res, err, CheckPredicateType)
	if c, _ := res.Check(CheckSignature); c.Verdict != VerdictPass {
		t.Errorf("signature check = %+v, want pass", c)
	}
	if !strings.Contains(err.Error(), PredicateTypeJob) || !strings.Contains(err.Error(), "slsa.dev") {
		t.Errorf("error should name both types: %v", err)
	}

	// A statement of another type is refused by the default options,
	// which expect the job predicate type.
	privPEM, pubPEM, _ := GenerateKey()
	kp, _ := KeypairFromPEM(privPEM, nil)
	st, err := NewStatement("https://example.com/other/v1", []Subject{JobSubject(testRunURI)}, map[string]any{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sign(context.Background(), st, kp, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = Verify(b, VerifyOptions{PublicKeyPEM: pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckPredicateType)
	// ... and accepted when that type is asked for.
	res, err = Verify(b, VerifyOptions{PublicKeyPEM: pubPEM, PredicateType: "https://example.com/other/v1", ArtifactDigest: jobDigest()})
	if err != nil || res.Predicate != nil || string(res.Statement.Predicate) != `{"x":1}` {
		t.Errorf("other predicate type: res=%+v err=%v", res, err)
	}
}

func TestVerifyRejectsWrongSubject(t *testing.T) {
	s := signExample(t)
	other := JobSubjectDigest(testRunURI + "x")
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: &other})
	wantFailure(t, res, err, CheckSubject)
	if c, _ := res.Check(CheckSignature); c.Verdict != VerdictPass {
		t.Errorf("signature check = %+v, want pass (only the subject is wrong)", c)
	}
	if !strings.Contains(err.Error(), other.Hex) || !strings.Contains(err.Error(), testRunURI) {
		t.Errorf("error should name the digest and the subjects: %v", err)
	}

	res, err = Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, Artifact: strings.NewReader("widgets tarball!")})
	wantFailure(t, res, err, CheckSubject)

	sha512 := Digest{Algorithm: "sha512", Hex: strings.Repeat("ab", 64)}
	res, err = Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: &sha512})
	wantFailure(t, res, err, CheckSubject)
}

func TestVerifyWithoutArtifactIsExplicit(t *testing.T) {
	s := signExample(t)
	res, err := Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := res.Check(CheckSubject); c.Verdict != VerdictSkip {
		t.Errorf("subject check = %+v, want skip", c)
	}
	if res.MatchedSubject != nil {
		t.Error("a matched subject was reported without a subject check")
	}
	// The predicate type is still checked.
	res, err = Verify(s.bundle, VerifyOptions{PublicKeyPEM: s.pubPEM, WithoutArtifactUnsafe: true, PredicateType: "https://example.com/x"})
	wantFailure(t, res, err, CheckPredicateType)
}

func TestVerifyOptionMisuse(t *testing.T) {
	s := signExample(t)
	priv, _, _ := GenerateKey()
	d := jobDigest()
	bad := Digest{Algorithm: "sha256", Hex: "abc"}
	cases := map[string]VerifyOptions{
		"zero options":         {},
		"no key":               {ArtifactDigest: d},
		"private key as key":   {PublicKeyPEM: priv, ArtifactDigest: d},
		"no subject":           {PublicKeyPEM: s.pubPEM},
		"digest and artifact":  {PublicKeyPEM: s.pubPEM, ArtifactDigest: d, Artifact: strings.NewReader("x")},
		"digest and unsafe":    {PublicKeyPEM: s.pubPEM, ArtifactDigest: d, WithoutArtifactUnsafe: true},
		"malformed digest":     {PublicKeyPEM: s.pubPEM, ArtifactDigest: &bad},
		"unsupported digest":   {PublicKeyPEM: s.pubPEM, ArtifactDigest: &Digest{Algorithm: "md5", Hex: strings.Repeat("0", 32)}},
		"uppercase hex digest": {PublicKeyPEM: s.pubPEM, ArtifactDigest: &Digest{Algorithm: "sha256", Hex: strings.ToUpper(d.Hex)}},
	}
	for name, opts := range cases {
		res, err := Verify(s.bundle, opts)
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
	huge := make([]byte, MaxBundleSize+1)
	res, err := Verify(huge, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckBundle)
	if !strings.Contains(err.Error(), "more than") {
		t.Errorf("size error: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":    nil,
		"not json": []byte("{"),
		"v0.4":     bytes.Replace(s.bundle, []byte("bundle.v0.3+json"), []byte("bundle.v0.4+json"), 1),
		"no envelope": editBundle(t, s.bundle, func(m map[string]any) {
			delete(m, "dsseEnvelope")
		}),
	} {
		res, err := Verify(b, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()})
		if err == nil {
			t.Errorf("%s: verified", name)
			continue
		}
		wantFailure(t, res, err, CheckBundle)
	}
}

// TestVerifyRejectsInvalidPredicate signs (bypassing NewStatement's
// checks) a job statement whose predicate breaks the contract.
func TestVerifyRejectsInvalidPredicate(t *testing.T) {
	privPEM, pubPEM, _ := GenerateKey()
	kp, _ := KeypairFromPEM(privPEM, nil)
	st, _ := exampleStatement(t)
	bad := bytes.Replace(st, []byte(`"outcome":"success"`), []byte(`"outcome":"great"`), 1)
	if bytes.Equal(bad, st) {
		t.Fatal("fixture did not change")
	}
	// Sign refuses it: its self-verification includes the predicate.
	if _, err := Sign(context.Background(), bad, kp, SignOptions{}); err == nil || !strings.Contains(err.Error(), "outcome") {
		t.Fatalf("Sign accepted an invalid predicate: %v", err)
	}
	// Sign it directly with sigstore-go to see what Verify says.
	pb, err := sign.Bundle(&sign.DSSEData{Data: bad, PayloadType: PayloadTypeInToto}, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(b, VerifyOptions{PublicKeyPEM: pubPEM, ArtifactDigest: jobDigest()})
	wantFailure(t, res, err, CheckPredicate)
}

func TestSignRefuses(t *testing.T) {
	privPEM, _, _ := GenerateKey()
	kp, _ := KeypairFromPEM(privPEM, nil)
	st, _ := exampleStatement(t)
	if _, err := Sign(context.Background(), st, nil, SignOptions{}); err == nil {
		t.Error("signed without a key")
	}
	if _, err := Sign(context.Background(), []byte(`{"_type":"x"}`), kp, SignOptions{}); err == nil {
		t.Error("signed a non-statement")
	}
	// A keypair whose SignData misbehaves is caught by the self-check.
	if _, err := Sign(context.Background(), st, liar{kp}, SignOptions{}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("bad signature not caught: %v", err)
	}
	// A cancelled context is honoured by signers that look at it; the
	// file signer does not, which is fine: it does no I/O.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sign(ctx, st, kp, SignOptions{}); err != nil {
		t.Errorf("Sign with a cancelled context: %v", err)
	}
}

// liar signs different data than it is given.
type liar struct{ *Keypair }

func (l liar) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	return l.Keypair.SignData(ctx, append([]byte("x"), data...))
}

func TestWriteBundle(t *testing.T) {
	s := signExample(t)
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultBundleFile)
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteBundle(path, s.bundle); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", info.Mode().Perm())
	}
	got, err := ReadBundleFile(path)
	if err != nil || !bytes.Equal(got, s.bundle) {
		t.Fatalf("read back: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, err := Verify(got, VerifyOptions{PublicKeyPEM: s.pubPEM, ArtifactDigest: jobDigest()}); err != nil {
		t.Errorf("written bundle does not verify: %v", err)
	}
	if err := WriteBundle(filepath.Join(dir, "missing", "b.json"), s.bundle); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
	if _, err := ReadBundleFile(filepath.Join(dir, "nope.json")); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("read missing: %v", err)
	}
}

// TestSignWithTrustedMaterial passes cosign's empty trusted root (cosign
// trusted-root create with no options), and a trusted key set holding a
// different key: neither may stop the signing key from being found.
func TestSignWithTrustedMaterial(t *testing.T) {
	empty, err := root.NewTrustedRootFromJSON([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`))
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, _, _ := GenerateKey()
	otherKP, _ := KeypairFromPEM(otherPriv, nil)
	otherV, err := keypairVerifier(otherKP)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := root.NewExpiringKey(otherV, time.Time{}, time.Time{})
	otherMaterial := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return otherKey, nil })

	privPEM, pubPEM, _ := GenerateKey()
	kp, _ := KeypairFromPEM(privPEM, nil)
	st, _ := exampleStatement(t)
	for name, tm := range map[string]root.TrustedMaterial{"empty trusted root": empty, "other key": otherMaterial} {
		b, err := Sign(context.Background(), st, kp, SignOptions{TrustedMaterial: tm})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Verify(b, VerifyOptions{PublicKeyPEM: pubPEM, ArtifactDigest: jobDigest()}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
