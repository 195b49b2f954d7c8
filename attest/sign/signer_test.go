package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	fakekms "github.com/sigstore/sigstore/pkg/signature/kms/fake"

	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNewSignerSpecs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ spec, want string }{
		{"", "no signer given"},
		{"key:", "no key file given"},
		{"key:/nonexistent/key.pem", "/nonexistent/key.pem"},
		{"kms:", "want kms:URI"},
		{"kms:alias/x", "want kms:URI"},
		{"kms:nosuchkms://k", "no KMS provider"},
		{"awskms:///alias/x", "kms:awskms:///alias/x"},
		{"pgp:key", "unknown kind"},
		{"keyless", "no OIDC token source"},
	} {
		_, err := NewSigner(ctx, tc.spec, Options{Getenv: env(nil)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSigner(%q) error = %v, want it to mention %q", tc.spec, err, tc.want)
		}
	}
}

func TestKeylessSignerNeedsServices(t *testing.T) {
	ctx := context.Background()
	tok := func(context.Context, string) (string, error) { return "", nil }
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{IDToken: tok, Getenv: env(nil)}, "public Sigstore instance is the default only on GitHub Actions"},
		{Options{IDToken: tok, TSAURL: "http://127.0.0.1:9", Getenv: env(nil)}, "no Fulcio URL"},
		{Options{IDToken: tok, FulcioURL: "http://127.0.0.1:9", Getenv: env(nil)}, "no TSA URL"},
	} {
		_, err := NewSigner(ctx, "keyless", tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("keyless %+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// writeCosignKey writes an ECDSA key in cosign's encrypted format.
func writeCosignKey(t *testing.T, password string) string {
	t.Helper()
	privPEM, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKeyPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	der := mustPKCS8(t, priv)
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(path, pemBlock(pemSigstoreEncrypted, enc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeySignerPasswordFromEnv(t *testing.T) {
	ctx := context.Background()
	path := writeCosignKey(t, "pw1")
	for _, tc := range []struct {
		env map[string]string
		ok  bool
	}{
		{map[string]string{"CHAPERONE_KEY_PASSWORD": "pw1"}, true},
		{map[string]string{"COSIGN_PASSWORD": "pw1"}, true},
		{map[string]string{"CHAPERONE_KEY_PASSWORD": "pw1", "COSIGN_PASSWORD": "other"}, true},
		{map[string]string{"CHAPERONE_KEY_PASSWORD": "other", "COSIGN_PASSWORD": "pw1"}, false},
		{nil, false},
	} {
		s, err := NewSigner(ctx, "key:"+path, Options{Getenv: env(tc.env)})
		if (err == nil) != tc.ok {
			t.Errorf("env %v: err %v, want ok=%v", tc.env, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		st, _ := attesttest.Statement(t)
		b, err := s.SignStatement(ctx, st)
		if err != nil {
			t.Fatalf("SignStatement: %v", err)
		}
		if s.Kind() != KindKey || s.TrustedRoot() != nil {
			t.Errorf("key signer: kind %q, trusted root %d bytes", s.Kind(), len(s.TrustedRoot()))
		}
		if _, err := verify.Bundle(b, verify.Options{PublicKeyPEM: s.PublicKeyPEM(), ArtifactDigest: attesttest.JobDigest()}); err != nil {
			t.Errorf("verifying with the signer's own public key: %v", err)
		}
	}
}

func TestKMSSignerWithFakeProvider(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.WithValue(context.Background(), fakekms.KmsCtxKey{}, priv)
		s, err := NewSigner(ctx, "kms:"+fakekms.ReferenceScheme+"ci-attest", Options{Getenv: env(nil)})
		if err != nil {
			t.Fatalf("%s: NewSigner kms: %v", curve.Params().Name, err)
		}
		if s.Kind() != KindKMS {
			t.Errorf("kind %q", s.Kind())
		}
		st, _ := attesttest.Statement(t)
		b, err := s.SignStatement(ctx, st)
		if err != nil {
			t.Fatalf("%s: SignStatement: %v", curve.Params().Name, err)
		}
		pub, err := verify.LoadKey(ctx, fakekms.ReferenceScheme+"ci-attest")
		if err != nil {
			t.Fatal(err)
		}
		res, err := verify.Bundle(b, verify.Options{PublicKeyPEM: pub, ArtifactDigest: attesttest.JobDigest()})
		if err != nil {
			t.Fatalf("%s: verifying the KMS signature: %v", curve.Params().Name, err)
		}
		if res.Signer == nil || res.Signer.Kind != "key" {
			t.Errorf("signer info %+v", res.Signer)
		}
	}
}

func TestKeySignerRefusesFulcioURL(t *testing.T) {
	privPEM, _, _ := GenerateKey()
	path := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(path, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewSigner(context.Background(), "key:"+path, Options{FulcioURL: "https://fulcio.example"})
	if err == nil || !strings.Contains(err.Error(), "only used by the keyless signer") {
		t.Errorf("key signer with a Fulcio URL: %v", err)
	}
}

func mustPKCS8(t *testing.T, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
