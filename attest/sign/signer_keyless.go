package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/chaperone-ci/chaperone/attest/verify"
)

// keylessSigner signs with a fresh ephemeral key per signature, certified
// by Fulcio for the job's OIDC identity, and dated by a TSA (and/or a
// Rekor entry): the certificate is valid for minutes, the timestamp proves
// the signature was made within them.
type keylessSigner struct {
	idToken  func(ctx context.Context, audience string) (string, error)
	fulcio   *sgsign.Fulcio
	svc      services
	public   bool // the public Sigstore instance: only for public repositories
	rootJSON []byte
	trusted  root.TrustedMaterial
	sct      bool // the trusted root has CT logs: require an SCT
}

func newKeylessSigner(ctx context.Context, opts Options) (*keylessSigner, error) {
	if opts.IDToken == nil {
		return nil, errors.New("signer keyless: no OIDC token source; keyless signing needs the job's identity token (audience sigstore)")
	}
	s := &keylessSigner{idToken: opts.IDToken}
	if opts.FulcioURL == "" && opts.TSAURL == "" && opts.RekorURL == "" {
		if opts.getenv("GITHUB_ACTIONS") != "true" {
			return nil, errors.New("signer keyless: no Fulcio URL and TSA URL configured (attest.fulcio-url, attest.tsa-url); the public Sigstore instance is the default only on GitHub Actions")
		}
		s.public = true
		opts.FulcioURL, opts.RekorURL = PublicFulcioURL, PublicRekorURL
	}
	if opts.FulcioURL == "" {
		return nil, errors.New("signer keyless: a TSA or Rekor URL is configured but no Fulcio URL (attest.fulcio-url)")
	}
	if opts.TSAURL == "" && opts.RekorURL == "" {
		return nil, errors.New("signer keyless: no TSA URL (attest.tsa-url): a Fulcio certificate is valid for minutes, so a signature needs a trusted timestamp to verify later")
	}
	fo := &sgsign.FulcioOptions{BaseURL: strings.TrimRight(opts.FulcioURL, "/"), Timeout: serviceTimeout, Retries: serviceRetries}
	if opts.HTTPClient != nil {
		fo.Transport = opts.HTTPClient.Transport
	}
	s.fulcio = sgsign.NewFulcio(fo)
	s.svc = newServices(opts)

	var err error
	switch {
	case s.public && len(opts.TrustedRootJSON) == 0:
		// The public instance's trusted root comes from Sigstore's TUF
		// repository, never from the services themselves.
		tr, ferr := root.FetchTrustedRoot()
		if ferr != nil {
			return nil, fmt.Errorf("signer keyless: fetching the public Sigstore trusted root through TUF: %w", ferr)
		}
		s.trusted = tr
		if s.rootJSON, err = tr.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("signer keyless: encoding the trusted root: %w", err)
		}
		s.sct = len(tr.CTLogs()) > 0
	default:
		var tr *root.TrustedRoot
		if s.rootJSON, tr, err = loadOrFetchTrustedRoot(ctx, opts); err != nil {
			return nil, fmt.Errorf("signer keyless: %w", err)
		}
		s.trusted = tr
		s.sct = len(tr.CTLogs()) > 0
	}
	return s, nil
}

func (s *keylessSigner) Kind() string         { return KindKeyless }
func (s *keylessSigner) PublicKeyPEM() []byte { return nil }
func (s *keylessSigner) TrustedRoot() []byte  { return s.rootJSON }

func (s *keylessSigner) SignStatement(ctx context.Context, statement []byte) ([]byte, error) {
	token, err := s.idToken(ctx, SigstoreAudience)
	if err != nil {
		return nil, fmt.Errorf("signer keyless: getting the OIDC token (audience %s): %w", SigstoreAudience, err)
	}
	claims, err := unverifiedClaims(token)
	if err != nil {
		return nil, fmt.Errorf("signer keyless: %w", err)
	}
	issuer, _ := claims["iss"].(string)
	if issuer == "" {
		return nil, errors.New("signer keyless: the OIDC token has no issuer (iss)")
	}
	if s.public {
		if v, _ := claims["repository_visibility"].(string); v != "public" {
			return nil, fmt.Errorf("signer keyless: the repository is not public (repository_visibility %q): refusing to record it in the public Rekor log; configure a private Fulcio and TSA (attest.fulcio-url, attest.tsa-url)", v)
		}
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("signer keyless: %w", err)
	}
	// The certificate must name the token's issuer: the identity Fulcio
	// vouched for is the one the job holds.
	by := verify.Signing{
		Issuer:          issuer,
		TrustedMaterial: s.trusted,
		TSA:             s.svc.dated(),
		TransparencyLog: s.svc.logged(),
		SCT:             s.sct,
	}
	bopts := sgsign.BundleOptions{
		CertificateProvider:        s.fulcio,
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{IDToken: token},
		TimestampAuthorities:       s.svc.tsas,
		TransparencyLogs:           s.svc.tlogs,
		TrustedRoot:                s.trusted,
	}
	out, err := signWith(ctx, statement, kp, bopts, by)
	if err != nil {
		return nil, fmt.Errorf("signer keyless: %w", err)
	}
	return out, nil
}

// unverifiedClaims decodes a JWT's claims without checking its signature:
// Fulcio verifies the token; the signer only reads which issuer (and, for
// the public instance, which repository visibility) to expect.
func unverifiedClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the OIDC token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("the OIDC token's claims are not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, errors.New("the OIDC token's claims are not JSON")
	}
	return claims, nil
}
