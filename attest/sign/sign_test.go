package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
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
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, subjects := attesttest.Statement(t)
	b, err := Statement(context.Background(), st, kp, StatementOptions{})
	if err != nil {
		t.Fatalf("Statement: %v", err)
	}
	return signed{bundle: b, pubPEM: pubPEM, stmt: st, subject: subjects}
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
	pub, _ := verify.ParsePublicKeyPEM(s.pubPEM)
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
	sum := sha256.Sum256([]byte(attesttest.RunURI))
	if !strings.Contains(string(b.DSSEEnvelope.Payload), base64.StdEncoding.EncodeToString(sum[:])) &&
		!strings.Contains(string(b.DSSEEnvelope.Payload), attesttest.HexSHA256(attesttest.RunURI)) {
		t.Error("job subject digest not in the payload")
	}
}

func TestSignRefuses(t *testing.T) {
	privPEM, _, _ := GenerateKey()
	kp, _ := KeypairFromPEM(privPEM, nil)
	st, _ := attesttest.Statement(t)
	if _, err := Statement(context.Background(), st, nil, StatementOptions{}); err == nil {
		t.Error("signed without a key")
	}
	if _, err := Statement(context.Background(), []byte(`{"_type":"x"}`), kp, StatementOptions{}); err == nil {
		t.Error("signed a non-statement")
	}
	// A keypair whose SignData misbehaves is caught by the self-check.
	if _, err := Statement(context.Background(), st, liar{kp}, StatementOptions{}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("bad signature not caught: %v", err)
	}
	// A cancelled context is honoured by signers that look at it; the
	// file signer does not, which is fine: it does no I/O.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Statement(ctx, st, kp, StatementOptions{}); err != nil {
		t.Errorf("Statement with a cancelled context: %v", err)
	}
}

// liar signs different data than it is given.
type liar struct{ *Keypair }

func (l liar) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	return l.Keypair.SignData(ctx, append([]byte("x"), data...))
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
	st, _ := attesttest.Statement(t)
	for name, tm := range map[string]root.TrustedMaterial{"empty trusted root": empty, "other key": otherMaterial} {
		b, err := Statement(context.Background(), st, kp, StatementOptions{TrustedMaterial: tm})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := verify.Bundle(b, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: attesttest.JobDigest()}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
