package sign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Signer signs in-toto statements into Sigstore bundles. NewSigner makes
// one from a signer spec, so callers need not know which kind it is.
type Signer interface {
	// SignStatement signs an in-toto statement (as made by attest.NewStatement)
	// and returns a Sigstore bundle v0.3 in JSON. Before returning, the
	// bundle is verified with the same trusted material a verifier would
	// use (signature, certificate chain and identity issuer, timestamps,
	// predicate type, every subject digest, the job predicate): a bundle
	// SignStatement returns has already been verified once.
	SignStatement(ctx context.Context, statement []byte) ([]byte, error)

	// Kind is KindKey, KindKMS or KindKeyless.
	Kind() string

	// PublicKeyPEM is the PEM public key that verifies the signer's bundles
	// (key and kms signers; `chaperone verify --key`), nil for keyless.
	PublicKeyPEM() []byte

	// TrustedRoot is the trusted root JSON (Sigstore trusted root v0.1) that
	// verifies the signer's bundles: the Fulcio CA and timestamp authority
	// of a keyless signer, or the timestamp authority of a key signer that
	// uses one. It is nil when the public key alone suffices. Write it next
	// to the bundle for `chaperone verify --trusted-root` and
	// `cosign verify-blob-attestation --trusted-root`.
	TrustedRoot() []byte
}

// Signer kinds, as Signer.Kind reports them.
const (
	KindKey     = "key"
	KindKMS     = "kms"
	KindKeyless = "keyless"
)

// SigstoreAudience is the audience of the OIDC token a keyless signer asks
// for: Fulcio accepts tokens for this audience only.
const SigstoreAudience = "sigstore"

// Options configures NewSigner (and TrustedRootFor). Every field is
// optional; which ones a signer uses depends on its kind.
type Options struct {
	// Getenv reads the environment (default os.Getenv). A key signer reads
	// the password of an encrypted key from CHAPERONE_KEY_PASSWORD, or
	// when that is empty from COSIGN_PASSWORD; a keyless signer checks
	// GITHUB_ACTIONS to pick the public Sigstore instance.
	Getenv func(string) string

	// IDToken returns the job's OIDC token for an audience. A keyless
	// signer calls it with SigstoreAudience at every signature, so a
	// platform that re-mints tokens (GitHub) always hands Fulcio a fresh one.
	IDToken func(ctx context.Context, audience string) (string, error)

	// FulcioURL is the base URL of the Fulcio instance (keyless), e.g.
	// https://fulcio.example.com. TSAURL is an RFC 3161 timestamp
	// authority's timestamp endpoint, e.g.
	// https://tsa.example.com/api/v1/timestamp (a URL with no path gets
	// /api/v1/timestamp). RekorURL is a Rekor v1 transparency log's base
	// URL (optional). The key and kms signers use TSAURL and RekorURL too
	// when they are set.
	//
	// A keyless signer with none of the three set uses the public Sigstore
	// instance (Fulcio and Rekor at sigstore.dev, no TSA), but only on
	// GitHub Actions and only for a public repository, as actions/attest
	// does; anywhere else it needs FulcioURL and TSAURL.
	FulcioURL, TSAURL, RekorURL string

	// TrustedRootJSON is the trusted root to verify new bundles with. When
	// empty, a signer that needs one builds it from the services' own
	// endpoints (TrustedRootFor), or fetches the public Sigstore instance's
	// through TUF.
	TrustedRootJSON []byte

	// HTTPClient talks to Fulcio, the TSA and Rekor (default: a client
	// with a 30-second timeout).
	HTTPClient *http.Client
}

func (o Options) getenv(name string) string {
	if o.Getenv == nil {
		return os.Getenv(name)
	}
	return o.Getenv(name)
}

// keyPassword is the password for an encrypted key file.
func (o Options) keyPassword() []byte {
	if p := o.getenv("CHAPERONE_KEY_PASSWORD"); p != "" {
		return []byte(p)
	}
	return []byte(o.getenv("COSIGN_PASSWORD"))
}

// NewSigner returns the Signer a spec names:
//
//   - "key:PATH": a PEM private key file (PKCS#8, SEC 1, PKCS#1, or
//     cosign's encrypted format with the password from
//     CHAPERONE_KEY_PASSWORD or COSIGN_PASSWORD; see LoadKeypair);
//   - "kms:URI": a sigstore/sigstore KMS key, e.g.
//     kms:awskms:///alias/ci-attest, kms:gcpkms://projects/…,
//     kms:azurekms://…, kms:hashivault://KEY (the program must import
//     attest/kmsproviders, which chaperone does);
//   - "keyless": an ephemeral key certified by Fulcio for the job's OIDC
//     identity (opts.IDToken, audience "sigstore"), with an RFC 3161
//     timestamp from opts.TSAURL and optionally a Rekor entry.
//
// Keys are loaded, and the trusted root a keyless signer verifies with is
// fetched, here: configuration errors surface before the job runs.
func NewSigner(ctx context.Context, spec string, opts Options) (Signer, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "":
		return nil, errors.New("signer: no signer given; want key:PATH, kms:URI or keyless")
	case kind == KindKey:
		if arg == "" {
			return nil, errors.New("signer key: no key file given; want key:PATH")
		}
		kp, err := LoadKeypair(arg, opts.keyPassword())
		if err != nil {
			return nil, fmt.Errorf("signer key: %w", err)
		}
		return newKeySigner(ctx, KindKey, kp, opts)
	case kind == KindKMS:
		if arg == "" || !strings.Contains(arg, "://") {
			return nil, fmt.Errorf("signer %q: want kms:URI with a KMS key URI such as kms:awskms:///alias/NAME", spec)
		}
		kp, err := loadKMSKeypair(ctx, arg)
		if err != nil {
			return nil, fmt.Errorf("signer kms: %w", err)
		}
		return newKeySigner(ctx, KindKMS, kp, opts)
	case spec == KindKeyless:
		return newKeylessSigner(ctx, opts)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("signer %q: a KMS key is written kms:%s", spec, spec)
	}
	return nil, fmt.Errorf("signer %q: unknown kind; want key:PATH, kms:URI or keyless", spec)
}

// httpClient is the client for Sigstore services.
func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: serviceTimeout}
}
