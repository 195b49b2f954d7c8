package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestGenerateKeyFormat(t *testing.T) {
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(privPEM)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("private key PEM type = %v, want PRIVATE KEY (PKCS#8)", blk)
	}
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", priv)
	}
	pub, err := verify.ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !ec.PublicKey.Equal(pub) {
		t.Error("public key PEM does not match the private key")
	}
	p2, _, _ := GenerateKey()
	if string(p2) == string(privPEM) {
		t.Error("GenerateKey returned the same key twice")
	}
}

// TestLoadKeypairFormats loads the same kinds of keys in each supported
// encoding and checks the keypair signs verifiably with the right hint.
func TestLoadKeypairFormats(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8EC, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	sec1EC, _ := x509.MarshalECPrivateKey(ecKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs1RSA := x509.MarshalPKCS1PrivateKey(rsaKey)
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(edKey)
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")

	cases := []struct {
		name    string
		pem     []byte
		pub     crypto.PublicKey
		alg     protocommon.PublicKeyDetails
		keyAlg  string
		hashAlg protocommon.HashAlgorithm
	}{
		{"PKCS#8 ECDSA P-256", pemBlock("PRIVATE KEY", pkcs8EC), ecKey.Public(), protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, "ECDSA", protocommon.HashAlgorithm_SHA2_256},
		{"SEC1 ECDSA P-256", pemBlock("EC PRIVATE KEY", sec1EC), ecKey.Public(), protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, "ECDSA", protocommon.HashAlgorithm_SHA2_256},
		{"SEC1 after EC PARAMETERS (openssl ecparam -genkey)", append(append([]byte{}, ecParams...), pemBlock("EC PRIVATE KEY", sec1EC)...), ecKey.Public(), protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, "ECDSA", protocommon.HashAlgorithm_SHA2_256},
		{"PKCS#1 RSA", pemBlock("RSA PRIVATE KEY", pkcs1RSA), rsaKey.Public(), protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, "RSA", protocommon.HashAlgorithm_SHA2_256},
		{"PKCS#8 RSA", pemBlock("PRIVATE KEY", pkcs8RSA), rsaKey.Public(), protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, "RSA", protocommon.HashAlgorithm_SHA2_256},
		{"PKCS#8 Ed25519", pemBlock("PRIVATE KEY", pkcs8Ed), edKey.Public(), protocommon.PublicKeyDetails_PKIX_ED25519, "ED25519", protocommon.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "key.pem", c.pem)
			kp, err := LoadKeypair(path, nil)
			if err != nil {
				t.Fatalf("LoadKeypair: %v", err)
			}
			if !c.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(kp.GetPublicKey()) {
				t.Fatal("loaded a different public key")
			}
			if kp.GetSigningAlgorithm() != c.alg {
				t.Errorf("algorithm = %v, want %v", kp.GetSigningAlgorithm(), c.alg)
			}
			if kp.GetKeyAlgorithm() != c.keyAlg {
				t.Errorf("key algorithm = %q, want %q", kp.GetKeyAlgorithm(), c.keyAlg)
			}
			if kp.GetHashAlgorithm() != c.hashAlg {
				t.Errorf("hash = %v, want %v", kp.GetHashAlgorithm(), c.hashAlg)
			}
			der, _ := x509.MarshalPKIXPublicKey(c.pub)
			sum := sha256.Sum256(der)
			if got, want := string(kp.GetHint()), base64.StdEncoding.EncodeToString(sum[:]); got != want {
				t.Errorf("hint = %q, want %q", got, want)
			}
			pubPEM, err := kp.GetPublicKeyPem()
			if err != nil {
				t.Fatal(err)
			}
			// Sign a statement and verify it with the public key alone.
			st, _ := attesttest.Statement(t)
			b, err := Statement(context.Background(), st, kp, StatementOptions{})
			if err != nil {
				t.Fatalf("Statement: %v", err)
			}
			d := attest.JobSubjectDigest(attesttest.RunURI)
			if _, err := verify.Bundle(b, verify.Options{PublicKeyPEM: []byte(pubPEM), ArtifactDigest: &d}); err != nil {
				t.Fatalf("verify.Bundle: %v", err)
			}
		})
	}
}

func TestLoadKeypairCosignEncrypted(t *testing.T) {
	password := []byte("correct horse battery staple")
	privPEM, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(privPEM), "ENCRYPTED SIGSTORE PRIVATE KEY") {
		t.Fatalf("unexpected fixture: %.40s", privPEM)
	}
	path := writeFile(t, "cosign.key", privPEM)
	kp, err := LoadKeypair(path, password)
	if err != nil {
		t.Fatalf("LoadKeypair: %v", err)
	}
	pub, _ := verify.ParsePublicKeyPEM(pubPEM)
	if !pub.(*ecdsa.PublicKey).Equal(kp.GetPublicKey()) {
		t.Error("decrypted a different key")
	}

	_, err = LoadKeypair(path, []byte("wrong"))
	if err == nil || !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), path) {
		t.Errorf("wrong password: err = %v", err)
	}

	// The older cosign PEM type is the same format.
	old := strings.ReplaceAll(string(privPEM), "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
	if _, err := LoadKeypair(writeFile(t, "old.key", []byte(old)), password); err != nil {
		t.Errorf("ENCRYPTED COSIGN PRIVATE KEY: %v", err)
	}

	// COSIGN_PASSWORD="" keys: an empty password, given as nil.
	emptyPEM, _, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeypair(writeFile(t, "empty.key", emptyPEM), nil); err != nil {
		t.Errorf("empty-password cosign key: %v", err)
	}
}

func TestLoadKeypairErrors(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	good := pemBlock("PRIVATE KEY", pkcs8)
	_, pubPEM, _ := GenerateKey()
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalECPrivateKey(p224)
	keyBody := base64.StdEncoding.EncodeToString(pkcs8)

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "no \"-----BEGIN"},
		{"garbage", []byte("this is not a key\n"), "not PEM"},
		{"public key instead", pubPEM, "found PUBLIC KEY"},
		{"corrupt DER", pemBlock("PRIVATE KEY", pkcs8[:len(pkcs8)-10]), "does not hold a valid key"},
		{"SEC1 label on PKCS#8", pemBlock("EC PRIVATE KEY", pkcs8), "does not hold a valid key"},
		{"two keys", append(append([]byte{}, good...), good...), "more than one private key"},
		{"legacy encrypted", []byte("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n" + keyBody + "\n-----END EC PRIVATE KEY-----\n"), "legacy OpenSSL"},
		{"openssh", pemBlock("OPENSSH PRIVATE KEY", []byte("openssh-key-v1")), "OpenSSH"},
		{"small RSA", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(smallRSA)), "at least 2048"},
		{"P-224", pemBlock("EC PRIVATE KEY", p224DER), "P-224"},
		{"encrypted PKCS#8 without password", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "no password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "key.pem", c.data)
			_, err := LoadKeypair(path, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error does not name the file: %q", msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			if strings.Contains(msg, keyBody[:24]) {
				t.Errorf("error leaks key material: %q", msg)
			}
		})
	}

	if _, err := LoadKeypair(filepath.Join(t.TempDir(), "missing.pem"), nil); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing file: err = %v", err)
	}
}
