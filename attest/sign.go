package attest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

// SignOptions configures Sign. The zero value signs with the key alone
// (no certificate, timestamp or transparency log), which stock cosign
// verifies with --key --insecure-ignore-tlog.
type SignOptions struct {
	// TrustedMaterial, when set, is handed to sigstore-go's sign.Bundle for
	// its own verification of the new bundle, in addition to (never
	// instead of) the check against the signing key that Sign always
	// makes. It becomes necessary once bundles carry certificates or
	// timestamps (keyless signing, a TSA).
	TrustedMaterial root.TrustedMaterial
}

// Sign signs an in-toto statement (as made by NewStatement) with kp and
// returns a Sigstore bundle v0.3 in JSON: a DSSE envelope of payload type
// application/vnd.in-toto+json, one signature with an empty keyid, and
// verificationMaterial.publicKey.hint naming the key.
//
// Before returning, Sign verifies the bundle as Verify would (signature
// against kp's public key, predicate type, every subject digest, and the
// job predicate's contents): a bundle Sign returns is one that has already
// been verified.
func Sign(ctx context.Context, statement []byte, kp sign.Keypair, opts SignOptions) ([]byte, error) {
	if kp == nil {
		return nil, errors.New("sign: no signing key")
	}
	keyVerifier, err := keypairVerifier(kp)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cfg := keyConfig(keyVerifier)
	var bopts sign.BundleOptions
	if opts.TrustedMaterial != nil {
		// The signing key comes first, so a key lookup always finds it
		// whatever other keys the trusted material holds.
		bopts.TrustedRoot = root.TrustedMaterialCollection{cfg.trusted, opts.TrustedMaterial}
	}
	return signWith(ctx, statement, kp, bopts, cfg)
}

// signWith signs statement with kp through sign.Bundle (which contacts the
// certificate provider, TSAs and logs in bopts), then verifies the new
// bundle with cfg, as Verify would, against the statement's own predicate
// type and every one of its subject digests.
func signWith(ctx context.Context, statement []byte, kp sign.Keypair, bopts sign.BundleOptions, cfg *verifyConfig) ([]byte, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := ParseStatement(statement)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cfg.predicateType = st.PredicateType
	cfg.digests, err = subjectDigests(st.Subject)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	cfg.withoutArtifact = len(cfg.digests) == 0
	if err := cfg.build(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}

	bopts.Context = ctx
	content := &sign.DSSEData{Data: statement, PayloadType: PayloadTypeInToto}
	pb, err := sign.Bundle(content, kp, bopts)
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
	if _, err := verifyBundle(out, cfg); err != nil {
		return nil, fmt.Errorf("sign: the new bundle does not verify: %w", err)
	}
	return out, nil
}

// subjectDigests lists every subject digest sigstore-go can check.
func subjectDigests(subjects []Subject) ([]verify.ArtifactDigest, error) {
	var out []verify.ArtifactDigest
	for _, s := range subjects {
		for alg, h := range s.Digest {
			if _, ok := digestSizes[alg]; !ok {
				continue
			}
			raw, err := hex.DecodeString(h)
			if err != nil || len(raw) != digestSizes[alg] {
				return nil, fmt.Errorf("subject %q: %s digest is not %d bytes of hex", s.Name, alg, digestSizes[alg])
			}
			out = append(out, verify.ArtifactDigest{Algorithm: alg, Digest: raw})
		}
	}
	return out, nil
}
