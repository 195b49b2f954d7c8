package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// StatementOptions configures Statement. The zero value signs with the key
// alone (no certificate, timestamp or transparency log), which stock
// cosign verifies with --key --insecure-ignore-tlog.
type StatementOptions struct {
	// TrustedMaterial, when set, is handed to sigstore-go's sign.Bundle for
	// its own verification of the new bundle, in addition to (never
	// instead of) the check against the signing key that Statement always
	// makes. It becomes necessary once bundles carry certificates or
	// timestamps (keyless signing, a TSA).
	TrustedMaterial root.TrustedMaterial
}

// Statement signs an in-toto statement (as made by attest.NewStatement)
// with kp and returns a Sigstore bundle v0.3 in JSON: a DSSE envelope of
// payload type application/vnd.in-toto+json, one signature with an empty
// keyid, and verificationMaterial.publicKey.hint naming the key.
//
// Before returning, Statement verifies the bundle as a verifier would
// (signature against kp's public key, predicate type, every subject
// digest, and the job predicate's contents): a bundle Statement returns is
// one that has already been verified.
func Statement(ctx context.Context, statement []byte, kp sgsign.Keypair, opts StatementOptions) ([]byte, error) {
	if kp == nil {
		return nil, errors.New("sign: no signing key")
	}
	keyVerifier, err := keypairVerifier(kp)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var bopts sgsign.BundleOptions
	if opts.TrustedMaterial != nil {
		// The signing key comes first, so a key lookup always finds it
		// whatever other keys the trusted material holds.
		bopts.TrustedRoot = root.TrustedMaterialCollection{verify.TrustedKey(keyVerifier), opts.TrustedMaterial}
	}
	return signWith(ctx, statement, kp, bopts, verify.Signing{Key: keyVerifier})
}

// signWith signs statement with kp through sigstore-go's sign.Bundle
// (which contacts the certificate provider, TSAs and logs in bopts), then
// verifies the new bundle as signed as by says, against the statement's
// own predicate type and every one of its subject digests.
func signWith(ctx context.Context, statement []byte, kp sgsign.Keypair, bopts sgsign.BundleOptions, by verify.Signing) ([]byte, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	v, err := verify.ForStatement(statement, by)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}

	bopts.Context = ctx
	content := &sgsign.DSSEData{Data: statement, PayloadType: attest.PayloadTypeInToto}
	pb, err := sgsign.Bundle(content, kp, bopts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	out, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("sign: encoding the bundle: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, fmt.Errorf("sign: encoding the bundle: %w", err)
	}
	out = buf.Bytes()

	if !bytes.Equal(pb.GetDsseEnvelope().GetPayload(), statement) {
		return nil, errors.New("sign: the bundle's payload differs from the statement that was signed")
	}
	if _, err := v.Verify(out); err != nil {
		return nil, fmt.Errorf("sign: the new bundle does not verify: %w", err)
	}
	return out, nil
}
