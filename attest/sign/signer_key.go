package sign

import (
	"context"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/chaperone-ci/chaperone/attest/internal/keys"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// keySigner signs with a key the caller holds: a key file or a KMS key,
// optionally with a TSA timestamp and a Rekor entry.
type keySigner struct {
	kind     string
	kp       sgsign.Keypair
	pubPEM   []byte
	verifier signature.Verifier
	svc      services
	rootJSON []byte            // nil without services
	trusted  *root.TrustedRoot // nil without services
}

func newKeySigner(ctx context.Context, kind string, kp sgsign.Keypair, opts Options) (*keySigner, error) {
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
	by := verify.Signing{Key: s.verifier}
	bopts := sgsign.BundleOptions{TimestampAuthorities: s.svc.tsas, TransparencyLogs: s.svc.tlogs}
	if s.trusted != nil {
		by.TrustedMaterial = s.trusted
		by.TSA, by.TransparencyLog = s.svc.dated(), s.svc.logged()
		bopts.TrustedRoot = root.TrustedMaterialCollection{verify.TrustedKey(s.verifier), s.trusted}
	}
	out, err := signWith(ctx, statement, s.kp, bopts, by)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.kind, err)
	}
	return out, nil
}

// loadKMSKeypair opens a KMS key through sigstore/sigstore, with the hash
// its Sigstore algorithm uses (SHA-256 for P-256 and RSA, SHA-384 for
// P-384 …).
func loadKMSKeypair(ctx context.Context, uri string) (*Keypair, error) {
	sv, err := keys.OpenKMS(ctx, uri)
	if err != nil {
		return nil, err
	}
	kp, err := NewKeypair(sv)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: %w", uri, err)
	}
	return kp, nil
}

// loadOrFetchTrustedRoot returns opts.TrustedRootJSON, or builds the
// trusted root from the services' endpoints.
func loadOrFetchTrustedRoot(ctx context.Context, opts Options) ([]byte, *root.TrustedRoot, error) {
	data := opts.TrustedRootJSON
	if len(data) == 0 {
		var err error
		if data, err = TrustedRootFor(ctx, opts); err != nil {
			return nil, nil, err
		}
	}
	tr, err := verify.ParseTrustedRoot(data)
	if err != nil {
		return nil, nil, err
	}
	return data, tr, nil
}
