package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/chaperone-ci/chaperone/attest/internal/keys"
)

// Keypair adapts a sigstore/sigstore signature.SignerVerifier (a key file,
// a KMS key, anything with a public key) to sigstore-go's sign.Keypair, so
// that sigstore-go's sign.Bundle can sign with it. The algorithm is the default Sigstore
// algorithm for the public key (signature.GetDefaultAlgorithmDetails:
// ECDSA P-256 → SHA-256, RSA → PKCS#1 v1.5 SHA-256, Ed25519 → pure
// Ed25519), and the hint is base64(sha256(PKIX public key)), the value
// cosign and sigstore-go write to verificationMaterial.publicKey.hint.
type Keypair struct {
	sv   signature.SignerVerifier
	pub  crypto.PublicKey
	alg  signature.AlgorithmDetails
	hint []byte
}

var _ sgsign.Keypair = (*Keypair)(nil)

// NewKeypair wraps sv. The public key is read once, here.
func NewKeypair(sv signature.SignerVerifier) (*Keypair, error) {
	if sv == nil {
		return nil, errors.New("keypair: no signer")
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("keypair: reading the public key: %w", err)
	}
	alg, err := signature.GetDefaultAlgorithmDetails(pub)
	if err != nil {
		return nil, fmt.Errorf("keypair: %s: %w", keys.Describe(pub), err)
	}
	hint, err := PublicKeyHint(pub)
	if err != nil {
		return nil, fmt.Errorf("keypair: %w", err)
	}
	return &Keypair{sv: sv, pub: pub, alg: alg, hint: []byte(hint)}, nil
}

// PublicKeyHint returns base64(sha256(PKIX DER of pub)), the public key
// hint of a Sigstore bundle.
func PublicKeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// GetHashAlgorithm is the hash of the data that gets signed.
func (k *Keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }

// GetSigningAlgorithm is the key's Sigstore algorithm.
func (k *Keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}

// GetHint is the public key hint (base64 of the SHA-256 of the PKIX key).
func (k *Keypair) GetHint() []byte { return k.hint }

// GetKeyAlgorithm is "ECDSA", "RSA" or "ED25519".
func (k *Keypair) GetKeyAlgorithm() string {
	switch k.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

// GetPublicKey returns the public key.
func (k *Keypair) GetPublicKey() crypto.PublicKey { return k.pub }

// GetPublicKeyPem returns the public key as a PEM "PUBLIC KEY" block.
func (k *Keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// SignData signs data and returns the signature and the digest that was
// signed (the data itself for pure Ed25519, which signs the message).
func (k *Keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	opts := []signature.SignOption{options.WithContext(ctx)}
	signed := data
	if h := k.alg.GetHashType(); h != crypto.Hash(0) {
		hasher := h.New()
		hasher.Write(data)
		signed = hasher.Sum(nil)
		opts = append(opts, options.WithDigest(signed))
	}
	sig, err := k.sv.SignMessage(bytes.NewReader(data), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	return sig, signed, nil
}

// keypairVerifier returns a verifier for any sigstore-go sign.Keypair's public key,
// using the algorithm the keypair signs with.
func keypairVerifier(kp sgsign.Keypair) (signature.Verifier, error) {
	alg, err := signature.GetAlgorithmDetails(kp.GetSigningAlgorithm())
	if err != nil {
		return nil, fmt.Errorf("signing algorithm %v: %w", kp.GetSigningAlgorithm(), err)
	}
	return signature.LoadVerifierFromAlgorithmDetails(kp.GetPublicKey(), alg)
}
