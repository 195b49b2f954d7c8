package verify_test

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest/sign"
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

func TestParsePublicKeyPEMErrors(t *testing.T) {
	priv, _, _ := sign.GenerateKey()
	if _, err := verify.ParsePublicKeyPEM(priv); err == nil || !strings.Contains(err.Error(), "found PRIVATE KEY") {
		t.Errorf("private key as public: err = %v", err)
	}
	if _, err := verify.ParsePublicKeyPEM([]byte("nope")); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Errorf("garbage: err = %v", err)
	}
	if _, err := verify.ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x01}})); err == nil {
		t.Error("corrupt public key accepted")
	}
	_, pub, _ := sign.GenerateKey()
	p := writeFile(t, "k.pub", pub)
	if got, err := verify.LoadPublicKey(p); err != nil || string(got) != string(pub) {
		t.Errorf("LoadPublicKey: %v", err)
	}
	if _, err := verify.LoadPublicKey(writeFile(t, "bad.pub", priv)); err == nil || !strings.Contains(err.Error(), "bad.pub") {
		t.Errorf("LoadPublicKey(private): err = %v", err)
	}
}
