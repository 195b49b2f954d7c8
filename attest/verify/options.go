package verify

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/keys"
)

// Options says what a bundle must satisfy. The zero value verifies
// nothing and is refused: exactly one signer source is required (a public
// key, or a certificate identity with a trusted root), and so is a subject
// to look for unless WithoutArtifactUnsafe is set.
type Options struct {
	// PublicKeyPEM is the PEM public key ("PUBLIC KEY") that must have
	// signed the bundle, as with cosign --key.
	PublicKeyPEM []byte

	// The signer of a keyless bundle: the certificate's subject alternative
	// name (the workload identity, e.g.
	// https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/main)
	// and the OIDC issuer it was issued for, each exact or a regular
	// expression (Go syntax, unanchored as in cosign: anchor with ^…$).
	// Give one of each pair. Requires TrustedRootJSON.
	CertificateIdentity, CertificateIdentityRegexp     string
	CertificateOIDCIssuer, CertificateOIDCIssuerRegexp string

	// TrustedRootJSON is a Sigstore trusted root (Fulcio CAs, timestamp
	// authorities, transparency and CT logs), e.g. as written by
	// sign.TrustedRootFor or `cosign trusted-root create`. Required with a
	// certificate identity. With a public key it is optional, and when given,
	// the bundle must carry a signed timestamp from one of its TSAs.
	TrustedRootJSON []byte

	// Time evidence a keyless bundle must carry. By default: one RFC 3161
	// timestamp from a TSA in the trusted root (a private Sigstore, or
	// GitHub's, as `gh attestation verify` checks them). TransparencyLog
	// requires instead an entry in a Rekor log of the trusted root, whose
	// integrated time or a TSA timestamp dates the signature (bundles from
	// the public Sigstore instance). SignedCertificateTimestamp also
	// requires an SCT from a CT log of the trusted root.
	TransparencyLog            bool
	SignedCertificateTimestamp bool

	// PredicateType is the predicate type the statement must carry.
	// Empty means attest.PredicateTypeJob. It is always checked.
	PredicateType string

	// The subject the statement must name. Set exactly one of Artifact (its
	// contents, hashed with SHA-256, as with cosign's positional blob) and
	// ArtifactDigest (as with cosign --digest/--digestAlg). For a job
	// attestation without artifacts use attest.JobSubjectDigest(runURI);
	// for an image, its manifest digest.
	Artifact       io.Reader
	ArtifactDigest *attest.Digest

	// WithoutArtifactUnsafe skips the subject check (cosign
	// --check-claims=false). The signature and predicate type are still
	// checked. Only for callers that check the subjects themselves.
	WithoutArtifactUnsafe bool

	// Policy is checked on the job predicate of an authentic bundle. A
	// policy with rules needs PredicateType attest.PredicateTypeJob.
	Policy Policy
}

// verifyConfig is Options resolved into sigstore-go terms, with the
// trusted material parsed and the sigstore-go verifier built once.
type verifyConfig struct {
	trusted       root.TrustedMaterial
	verifierOpts  []sgverify.VerifierOption
	identity      sgverify.PolicyOption
	signerKind    string // "key" | "certificate"
	signerDetail  string // for the signer check's verdict
	needTimestamp bool   // a time source is part of the policy
	predicateType string

	digests         []sgverify.ArtifactDigest
	withoutArtifact bool
	policy          Policy

	sev *sgverify.Verifier
}

// Signer kinds in SignerInfo.
const (
	signerKindKey         = "key"
	signerKindCertificate = "certificate"
)

func (o Options) config() (*verifyConfig, error) {
	keyless := o.CertificateIdentity != "" || o.CertificateIdentityRegexp != "" ||
		o.CertificateOIDCIssuer != "" || o.CertificateOIDCIssuerRegexp != ""
	var (
		cfg *verifyConfig
		err error
	)
	switch {
	case len(o.PublicKeyPEM) > 0 && keyless:
		return nil, errors.New("verify: give either a public key or a certificate identity and issuer, not both")
	case len(o.PublicKeyPEM) > 0:
		cfg, err = o.keyConfig()
	case keyless:
		cfg, err = o.certificateConfig()
	default:
		return nil, errors.New("verify: no signer given; refusing to verify without knowing who must have signed: give a public key, or a certificate identity and OIDC issuer with a trusted root")
	}
	if err != nil {
		return nil, err
	}

	cfg.predicateType = o.PredicateType
	if cfg.predicateType == "" {
		cfg.predicateType = attest.PredicateTypeJob
	}
	if err := o.Policy.validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !o.Policy.IsZero() && cfg.predicateType != attest.PredicateTypeJob {
		return nil, fmt.Errorf("verify: policy rules apply to job attestations (predicate type %s), not %s", attest.PredicateTypeJob, cfg.predicateType)
	}
	cfg.policy = o.Policy
	if err := o.subject(cfg); err != nil {
		return nil, err
	}
	if err := cfg.build(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// build makes the sigstore-go verifier from the trusted material and the
// time policy.
func (cfg *verifyConfig) build() error {
	sev, err := sgverify.NewVerifier(cfg.trusted, cfg.verifierOpts...)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	cfg.sev = sev
	return nil
}

// keyConfig trusts exactly the given public key, whatever key hint the
// bundle names (as cosign --key does).
func (o Options) keyConfig() (*verifyConfig, error) {
	if o.TransparencyLog || o.SignedCertificateTimestamp {
		return nil, errors.New("verify: transparency log and SCT requirements apply to certificate identities; with a public key give a trusted root with a TSA instead")
	}
	pub, err := ParsePublicKeyPEM(o.PublicKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %s: %w", keys.Describe(pub), err)
	}
	cfg := keyConfig(v)
	cfg.signerDetail = "signed by the given " + keys.Describe(pub)
	if len(o.TrustedRootJSON) > 0 {
		tr, err := ParseTrustedRoot(o.TrustedRootJSON)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if len(tr.TimestampingAuthorities()) == 0 {
			return nil, errors.New("verify: the trusted root has no timestamp authority; with a public key, a trusted root is only needed to check signed timestamps")
		}
		cfg.trusted = root.TrustedMaterialCollection{cfg.trusted, tr}
		cfg.verifierOpts = []sgverify.VerifierOption{sgverify.WithSignedTimestamps(1), sgverify.WithoutStatementPredicate()}
		cfg.needTimestamp = true
	}
	return cfg, nil
}

// keyConfig trusts exactly one public key; no timestamps or log entries
// are required.
func keyConfig(v signature.Verifier) *verifyConfig {
	return &verifyConfig{
		trusted:      TrustedKey(v),
		verifierOpts: []sgverify.VerifierOption{sgverify.WithNoObserverTimestamps(), sgverify.WithoutStatementPredicate()},
		identity:     sgverify.WithKey(),
		signerKind:   signerKindKey,
		signerDetail: "signed by the given key",
	}
}

// certificateConfig trusts certificates from the trusted root's CAs for
// the given identity and issuer, dated by a trusted time source.
func (o Options) certificateConfig() (*verifyConfig, error) {
	if err := exactlyOne("certificate identity", o.CertificateIdentity, o.CertificateIdentityRegexp); err != nil {
		return nil, err
	}
	if err := exactlyOne("certificate OIDC issuer", o.CertificateOIDCIssuer, o.CertificateOIDCIssuerRegexp); err != nil {
		return nil, err
	}
	for what, re := range map[string]string{"identity": o.CertificateIdentityRegexp, "OIDC issuer": o.CertificateOIDCIssuerRegexp} {
		if _, err := regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("verify: certificate %s regexp: %w", what, err)
		}
	}
	if len(o.TrustedRootJSON) == 0 {
		return nil, errors.New("verify: a certificate identity needs a trusted root (the Fulcio CA and timestamp authority that vouch for it)")
	}
	tr, err := ParseTrustedRoot(o.TrustedRootJSON)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, errors.New("verify: the trusted root has no certificate authority, so no certificate can verify")
	}
	id, err := sgverify.NewShortCertificateIdentity(o.CertificateOIDCIssuer, o.CertificateOIDCIssuerRegexp, o.CertificateIdentity, o.CertificateIdentityRegexp)
	if err != nil {
		return nil, fmt.Errorf("verify: certificate identity: %w", err)
	}
	cfg := &verifyConfig{
		trusted:       tr,
		verifierOpts:  []sgverify.VerifierOption{sgverify.WithoutStatementPredicate()},
		identity:      sgverify.WithCertificateIdentity(id),
		signerKind:    signerKindCertificate,
		signerDetail:  describeIdentity(o),
		needTimestamp: true,
	}
	if o.TransparencyLog {
		if len(tr.RekorLogs()) == 0 {
			return nil, errors.New("verify: a transparency log entry is required but the trusted root has no transparency log")
		}
		cfg.verifierOpts = append(cfg.verifierOpts, sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
	} else {
		if len(tr.TimestampingAuthorities()) == 0 {
			return nil, errors.New("verify: the trusted root has no timestamp authority, so no signed timestamp can verify (for bundles logged in Rekor, require the transparency log instead)")
		}
		cfg.verifierOpts = append(cfg.verifierOpts, sgverify.WithSignedTimestamps(1))
	}
	if o.SignedCertificateTimestamp {
		if len(tr.CTLogs()) == 0 {
			return nil, errors.New("verify: an SCT is required but the trusted root has no CT log")
		}
		cfg.verifierOpts = append(cfg.verifierOpts, sgverify.WithSignedCertificateTimestamps(1))
	}
	return cfg, nil
}

func exactlyOne(what, exact, re string) error {
	switch {
	case exact == "" && re == "":
		return fmt.Errorf("verify: no %s given (exact or regexp); both the identity and its issuer are required", what)
	case exact != "" && re != "":
		return fmt.Errorf("verify: give the %s exactly or as a regexp, not both", what)
	}
	return nil
}

func describeIdentity(o Options) string {
	id := fmt.Sprintf("identity %q", o.CertificateIdentity)
	if o.CertificateIdentityRegexp != "" {
		id = fmt.Sprintf("identity matching %q", o.CertificateIdentityRegexp)
	}
	iss := fmt.Sprintf("issuer %q", o.CertificateOIDCIssuer)
	if o.CertificateOIDCIssuerRegexp != "" {
		iss = fmt.Sprintf("issuer matching %q", o.CertificateOIDCIssuerRegexp)
	}
	return id + ", " + iss
}

// subject resolves the subject options into digests.
func (o Options) subject(cfg *verifyConfig) error {
	n := 0
	if o.Artifact != nil {
		n++
	}
	if o.ArtifactDigest != nil {
		n++
	}
	if o.WithoutArtifactUnsafe {
		n++
	}
	switch {
	case n == 0:
		return errors.New("verify: no subject to check: give the artifact or its digest (or explicitly skip the check with WithoutArtifactUnsafe)")
	case n > 1:
		return errors.New("verify: give only one of the artifact, its digest, and WithoutArtifactUnsafe")
	case o.WithoutArtifactUnsafe:
		cfg.withoutArtifact = true
	case o.ArtifactDigest != nil:
		raw, err := o.ArtifactDigest.Bytes()
		if err != nil {
			return fmt.Errorf("verify: artifact digest: %w", err)
		}
		cfg.digests = []sgverify.ArtifactDigest{{Algorithm: o.ArtifactDigest.Algorithm, Digest: raw}}
	default:
		h := sha256.New()
		if _, err := io.Copy(h, o.Artifact); err != nil {
			return fmt.Errorf("verify: reading the artifact: %w", err)
		}
		cfg.digests = []sgverify.ArtifactDigest{{Algorithm: "sha256", Digest: h.Sum(nil)}}
	}
	return nil
}
