package verify

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/chaperone-ci/chaperone/attest/internal/keys"
	"github.com/chaperone-ci/chaperone/attest/internal/regularfile"
)

// maxKeyFileSize bounds how much of a key file is read.
const maxKeyFileSize = 1 << 20

// LoadKey returns the PEM public key a key reference names (for
// Options.PublicKeyPEM): a KMS key URI (awskms://…, gcpkms://…,
// azurekms://…, hashivault://…, also written kms:URI), whose public key is
// read from the KMS, or else a PEM public key file.
func LoadKey(ctx context.Context, ref string) ([]byte, error) {
	uri := strings.TrimPrefix(ref, "kms:")
	if !strings.Contains(uri, "://") {
		return LoadPublicKey(ref)
	}
	sv, err := keys.OpenKMS(ctx, uri)
	if err != nil {
		return nil, err
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: reading the public key: %w", uri, err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", uri, err)
	}
	return pem, nil
}

// LoadPublicKey reads a PEM public key file and returns its contents
// after checking that they parse (for Options.PublicKeyPEM).
func LoadPublicKey(path string) ([]byte, error) {
	data, err := regularfile.ReadFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	if _, err := ParsePublicKeyPEM(data); err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return data, nil
}

// ParsePublicKeyPEM decodes a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS#1) block, as written by sign.GenerateKey and cosign
// generate-key-pair.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	var other []string
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the PUBLIC KEY block is not a valid PKIX public key: %w", err)
			}
			return pub, nil
		case "RSA PUBLIC KEY":
			pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the RSA PUBLIC KEY block is not a valid PKCS#1 public key: %w", err)
			}
			return pub, nil
		default:
			other = append(other, block.Type)
		}
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("no public key in the PEM data (found %s); a \"PUBLIC KEY\" block is expected", strings.Join(other, ", "))
	}
	return nil, errors.New("not PEM: no \"-----BEGIN PUBLIC KEY-----\" block found")
}
