package attest

import (
	"context"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// LoadVerificationKey returns the PEM public key a key reference names
// (for VerifyOptions.PublicKeyPEM): a KMS key URI (awskms://…, gcpkms://…,
// azurekms://…, hashivault://…, also written kms:URI), whose public key is
// read from the KMS, or else a PEM public key file.
func LoadVerificationKey(ctx context.Context, ref string) ([]byte, error) {
	uri := strings.TrimPrefix(ref, SignerKMS+":")
	if !strings.Contains(uri, "://") {
		return LoadPublicKey(ref)
	}
	kp, err := loadKMSKeypair(ctx, uri)
	if err != nil {
		return nil, err
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(kp.GetPublicKey())
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", uri, err)
	}
	return pem, nil
}
