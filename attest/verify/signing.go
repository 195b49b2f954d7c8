package verify

import (
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/chaperone-ci/chaperone/attest"
)

// Signing is how a signer signs, as the signer knows it: with a key, or
// with Fulcio certificates for an OIDC issuer's tokens; with the trusted
// material of the services it uses; and with which of them dating and
// logging each signature. A signer checks every bundle it makes with the
// Verifier ForStatement returns before it hands the bundle out.
type Signing struct {
	// Key verifies the signatures of a key signer (a key file or a KMS
	// key). Nil for a certificate signer.
	Key signature.Verifier

	// Issuer is the OIDC issuer a certificate signer's certificates must
	// name. Empty for a key signer.
	Issuer string

	// TrustedMaterial holds the Fulcio CA, timestamp authority and logs
	// that vouch for the signer's bundles. A certificate signer needs it;
	// a key signer needs it only when it uses a TSA or a log.
	TrustedMaterial root.TrustedMaterial

	// TSA and TransparencyLog say that each signature is timestamped by a
	// timestamp authority and entered in a transparency log: the bundle
	// must carry that evidence. SCT requires the certificate to carry a
	// signed certificate timestamp.
	TSA, TransparencyLog, SCT bool
}

// ForStatement returns the Verifier for the bundle a signer makes of
// statement (an in-toto statement, as attest.NewStatement makes it): signed
// as s says, of the statement's own predicate type, naming every one of its
// subject digests that a verifier can check (attest.Statement.SubjectDigests;
// a statement with none skips the subject check), and for a job predicate,
// valid. No policy applies. Errors from reading the statement are returned
// as they are.
func ForStatement(statement []byte, s Signing) (*Verifier, error) {
	var cfg *verifyConfig
	switch {
	case s.Key != nil && s.Issuer != "":
		return nil, errors.New("verify: a signer signs with a key or with certificates for an issuer, not both")
	case s.Key != nil && s.TrustedMaterial == nil:
		if s.TSA || s.TransparencyLog {
			return nil, errors.New("verify: a signer's TSA or transparency log needs the trusted material that vouches for it")
		}
		cfg = keyConfig(s.Key)
	case s.Key != nil:
		cfg = keyConfig(s.Key)
		cfg.trusted = root.TrustedMaterialCollection{cfg.trusted, s.TrustedMaterial}
		cfg.verifierOpts = timePolicy(false, s.TSA, s.TransparencyLog)
		cfg.needTimestamp = s.TSA
	case s.Issuer != "":
		if s.TrustedMaterial == nil {
			return nil, errors.New("verify: a certificate signer needs the trusted material of its Fulcio CA")
		}
		// The certificate must name the issuer of the token the signer
		// holds: the identity Fulcio vouched for is the one the job holds.
		id, err := sgverify.NewShortCertificateIdentity(s.Issuer, "", "", ".+")
		if err != nil {
			return nil, err
		}
		cfg = &verifyConfig{
			trusted:       s.TrustedMaterial,
			verifierOpts:  timePolicy(true, s.TSA, s.TransparencyLog),
			identity:      sgverify.WithCertificateIdentity(id),
			signerKind:    signerKindCertificate,
			signerDetail:  fmt.Sprintf("issuer %q", s.Issuer),
			needTimestamp: true,
		}
		if s.SCT {
			cfg.verifierOpts = append(cfg.verifierOpts, sgverify.WithSignedCertificateTimestamps(1))
		}
	default:
		return nil, errors.New("verify: no signer given: a signer's key, or the issuer of its certificates")
	}

	st, err := attest.ParseStatement(statement)
	if err != nil {
		return nil, err
	}
	cfg.predicateType = st.PredicateType
	digests, err := st.SubjectDigests()
	if err != nil {
		return nil, err
	}
	for _, d := range digests {
		raw, err := d.Bytes()
		if err != nil {
			return nil, err
		}
		cfg.digests = append(cfg.digests, sgverify.ArtifactDigest{Algorithm: d.Algorithm, Digest: raw})
	}
	cfg.withoutArtifact = len(cfg.digests) == 0
	if err := cfg.build(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// TrustedKey is trusted material holding exactly one public key, whatever
// key hint a bundle names (as cosign --key trusts it), valid at any time.
func TrustedKey(v signature.Verifier) root.TrustedMaterial {
	key := root.NewExpiringKey(v, time.Time{}, time.Time{})
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return key, nil
	})
}

// timePolicy is the time evidence a signer's bundle must carry, in the
// terms of sigstore-go (as its sign.Bundle chooses it): the TSA timestamp;
// else for a certificate the log's integrated time, for a key nothing.
func timePolicy(certificate, tsa, tlog bool) []sgverify.VerifierOption {
	opts := []sgverify.VerifierOption{sgverify.WithoutStatementPredicate()}
	if tlog {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	switch {
	case tsa:
		opts = append(opts, sgverify.WithSignedTimestamps(1))
	case certificate && tlog:
		opts = append(opts, sgverify.WithIntegratedTimestamps(1))
	case certificate:
		opts = append(opts, sgverify.WithCurrentTime())
	default:
		opts = append(opts, sgverify.WithNoObserverTimestamps())
	}
	return opts
}
