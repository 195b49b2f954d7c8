package attest

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
)

// keySigner signs with a key the caller holds: a key file or a KMS key,
// optionally with a TSA timestamp and a Rekor entry.
type keySigner struct {
	kind     string
	kp       sign.Keypair
	pubPEM   []byte
	verifier signature.Verifier
	svc      services
	rootJSON []byte            // nil without services
	trusted  *root.TrustedRoot // nil without services
}

func newKeySigner(ctx context.Context, kind string, kp sign.Keypair, opts SignerOptions) (*keySigner, error) {
	if opts.FulcioURL != "" {
		return nil, fmt.Errorf("signer %s: a Fulcio URL is only used by the keyless signer", kind)
	}
	pubPEM, err := kp.GetPublicKeyPem()
	if err != nil {
		return nil, fmt.Errorf("signer %s: public key: %w", kind, err)
	}
	v, err := keypairVerifier(kp)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", kind, err)
	}
	s := &keySigner{kind: kind, kp: kp, pubPEM: []byte(pubPEM), verifier: v, svc: newServices(opts)}
	if s.svc.any() {
		s.rootJSON, s.trusted, err = loadOrFetchTrustedRoot(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("signer %s: %w", kind, err)
		}
	}
	return s, nil
}

func (s *keySigner) Kind() string         { return s.kind }
func (s *keySigner) PublicKeyPEM() []byte { return s.pubPEM }
func (s *keySigner) TrustedRoot() []byte  { return s.rootJSON }

func (s *keySigner) SignStatement(ctx context.Context, statement []byte) ([]byte, error) {
	cfg := keyConfig(s.verifier)
	bopts := sign.BundleOptions{TimestampAuthorities: s.svc.tsas, TransparencyLogs: s.svc.tlogs}
	if s.trusted != nil {
		cfg.trusted = root.TrustedMaterialCollection{cfg.trusted, s.trusted}
		cfg.verifierOpts = s.svc.timePolicy(false)
		cfg.needTimestamp = len(s.svc.tsas) > 0
		bopts.TrustedRoot = cfg.trusted
	}
	out, err := signWith(ctx, statement, s.kp, bopts, cfg)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.kind, err)
	}
	return out, nil
}

// loadKMSKeypair opens a KMS key through sigstore/sigstore, with the hash
// its Sigstore algorithm uses (SHA-256 for P-256 and RSA, SHA-384 for
// P-384 …).
func loadKMSKeypair(ctx context.Context, uri string) (*Keypair, error) {
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
		return nil, fmt.Errorf("KMS key %s: %s: %w", uri, describeKey(pub), err)
	}
	if h := alg.GetHashType(); h != crypto.SHA256 && h != crypto.Hash(0) {
		if sv, err = kms.Get(ctx, uri, h); err != nil {
			return nil, fmt.Errorf("opening KMS key %s: %w", uri, err)
		}
	}
	kp, err := NewKeypair(sv)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", uri, err)
	}
	return kp, nil
}

// loadOrFetchTrustedRoot returns opts.TrustedRootJSON, or builds the
// trusted root from the services' endpoints.
func loadOrFetchTrustedRoot(ctx context.Context, opts SignerOptions) ([]byte, *root.TrustedRoot, error) {
	data := opts.TrustedRootJSON
	if len(data) == 0 {
		var err error
		if data, err = TrustedRootFor(ctx, opts); err != nil {
			return nil, nil, err
		}
	}
	tr, err := parseTrustedRoot(data)
	if err != nil {
		return nil, nil, err
	}
	return data, tr, nil
}
