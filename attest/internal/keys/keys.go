// Package keys holds what signing and verification both need of keys:
// naming a key in a message, and opening a KMS key.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
)

// Describe names a public key's type and size, for messages: "ECDSA P-256
// key", "RSA 2048-bit key", "Ed25519 key".
func Describe(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit key", k.Size()*8)
	case ed25519.PublicKey:
		return "Ed25519 key"
	}
	return fmt.Sprintf("%T key", pub)
}

// OpenKMS opens a KMS key (awskms://…, gcpkms://…, azurekms://…,
// hashivault://…) through sigstore/sigstore, with the hash its Sigstore
// algorithm uses (SHA-256 for P-256 and RSA, SHA-384 for P-384 …).
func OpenKMS(ctx context.Context, uri string) (signature.SignerVerifier, error) {
	sv, err := kms.Get(ctx, uri, crypto.SHA256)
	if err != nil {
		var nf *kms.ProviderNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("no KMS provider for %q (supported: awskms://, gcpkms://, azurekms://, hashivault://; the program must import attest/kmsproviders)", uri)
		}
		return nil, fmt.Errorf("opening KMS key %s: %w", uri, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: reading the public key: %w", uri, err)
	}
	alg, err := signature.GetDefaultAlgorithmDetails(pub)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %s: %w", uri, Describe(pub), err)
	}
	if h := alg.GetHashType(); h != crypto.SHA256 && h != crypto.Hash(0) {
		if sv, err = kms.Get(ctx, uri, h); err != nil {
			return nil, fmt.Errorf("opening KMS key %s: %w", uri, err)
		}
	}
	return sv, nil
}
