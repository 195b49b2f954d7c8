package verify

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/chaperone-ci/chaperone/attest"
)

// Verifier verifies bundles against one set of Options. The trusted
// material (public key or trusted root), the identity policy and the
// subject are resolved once, in NewVerifier, so verifying many bundles
// costs only the per-bundle cryptography. A Verifier is immutable and safe
// for concurrent use.
type Verifier struct {
	cfg *verifyConfig
}

// NewVerifier checks the options (see Options: a signer source and a
// subject are required) and loads the trusted material.
func NewVerifier(opts Options) (*Verifier, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// Verify checks a Sigstore bundle (JSON, at most attest.MaxBundleSize bytes)
// holding a DSSE-signed in-toto statement, in the order of the Check*
// constants: structure, signature (sigstore-go: against the key, or a
// certificate chaining to a trusted Fulcio CA), time evidence, signer
// identity, statement, predicate type, subject digest, the job predicate's
// contents, then the policy.
//
// A bundle that fails a check yields a Result recording the checks (with
// Verified false and no content) and an *Error naming the first failed
// check.
func (v *Verifier) Verify(bundleJSON []byte) (*Result, error) {
	return verifyBundle(bundleJSON, v.cfg)
}

// Bundle is NewVerifier(opts) followed by Verify(bundleJSON). Misused
// Options yield (nil, error). To verify many bundles with the same options,
// make one Verifier.
func Bundle(bundleJSON []byte, opts Options) (*Result, error) {
	v, err := NewVerifier(opts)
	if err != nil {
		return nil, err
	}
	return v.Verify(bundleJSON)
}

func verifyBundle(bundleJSON []byte, cfg *verifyConfig) (*Result, error) {
	res := &Result{}
	fail := func(check string, err error) (*Result, error) {
		res.add(check, VerdictFail, err.Error())
		return res, &Error{Check: check, Err: err}
	}

	// bundle: structure, before any cryptography.
	if len(bundleJSON) > attest.MaxBundleSize {
		return fail(CheckBundle, fmt.Errorf("bundle is %d bytes, more than the %d allowed", len(bundleJSON), attest.MaxBundleSize))
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return fail(CheckBundle, fmt.Errorf("not a valid Sigstore bundle: %w", err))
	}
	res.BundleMediaType = b.GetMediaType()
	res.PublicKeyHint = b.GetVerificationMaterial().GetPublicKey().GetHint()
	env := b.GetDsseEnvelope()
	if env == nil {
		return fail(CheckBundle, errors.New("the bundle holds no DSSE envelope (a message signature is not an attestation)"))
	}
	if env.GetPayloadType() != attest.PayloadTypeInToto {
		return fail(CheckBundle, fmt.Errorf("DSSE payload type is %q, want %s", env.GetPayloadType(), attest.PayloadTypeInToto))
	}
	if cfg.signerKind == signerKindCertificate && b.GetVerificationMaterial().GetPublicKey() != nil {
		return fail(CheckBundle, errors.New("the bundle is signed with a public key, not a certificate: verify it with the key"))
	}
	res.add(CheckBundle, VerdictPass, res.BundleMediaType)

	// signature, time, signer identity and (in the same sigstore-go call)
	// the subject digest. Only when that fails are the parts told apart.
	artifactPolicy := sgverify.WithoutArtifactUnsafe()
	if !cfg.withoutArtifact {
		artifactPolicy = sgverify.WithArtifactDigests(cfg.digests)
	}
	vr, fullErr := cfg.sev.Verify(&b, sgverify.NewPolicy(artifactPolicy, cfg.identity))
	var subjectErr error
	if fullErr != nil {
		if cfg.withoutArtifact {
			return failSignature(res, &b, cfg, fullErr)
		}
		var sigErr error
		vr, sigErr = cfg.sev.Verify(&b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), cfg.identity))
		if sigErr != nil {
			return failSignature(res, &b, cfg, sigErr)
		}
		subjectErr = fullErr
	}
	signer, stamps := signerInfo(cfg, vr)
	res.add(CheckSignature, VerdictPass, signatureDetail(cfg))
	if cfg.needTimestamp {
		res.add(CheckTimestamp, VerdictPass, describeTimestamps(stamps))
	} else {
		res.add(CheckTimestamp, VerdictSkip, "no time evidence required for a key signature")
	}
	res.add(CheckSigner, VerdictPass, describeSigner(cfg, signer))

	// From here on the payload is authentic; check what it says.
	stmt, err := attest.ParseStatement(env.GetPayload())
	if err != nil {
		return fail(CheckStatement, err)
	}
	res.add(CheckStatement, VerdictPass, stmt.Type)

	var failed *Error
	note := func(check string, err error) {
		res.add(check, VerdictFail, err.Error())
		if failed == nil {
			failed = &Error{Check: check, Err: err}
		}
	}

	typeOK := stmt.PredicateType == cfg.predicateType
	if typeOK {
		res.add(CheckPredicateType, VerdictPass, stmt.PredicateType)
	} else {
		note(CheckPredicateType, fmt.Errorf("predicate type is %q, want %q", stmt.PredicateType, cfg.predicateType))
	}

	var matched *attest.Subject
	switch {
	case cfg.withoutArtifact:
		res.add(CheckSubject, VerdictSkip, "subject check skipped on request (WithoutArtifactUnsafe)")
	case subjectErr != nil:
		note(CheckSubject, fmt.Errorf("no subject has digest %s (subjects: %s)", describeDigests(cfg.digests), describeSubjects(stmt.Subject)))
	default:
		if matched = findSubject(stmt.Subject, cfg.digests); matched == nil {
			// sigstore-go matched but our reading of the payload does not:
			// never accept on a disagreement between parsers.
			note(CheckSubject, fmt.Errorf("no subject has digest %s", describeDigests(cfg.digests)))
		} else {
			res.add(CheckSubject, VerdictPass, fmt.Sprintf("%s %s", matched.Name, describeDigests(cfg.digests)))
		}
	}

	var pred *attest.JobPredicate
	if typeOK && stmt.PredicateType == attest.PredicateTypeJob {
		pred = &attest.JobPredicate{}
		if err := json.Unmarshal(stmt.Predicate, pred); err != nil {
			note(CheckPredicate, fmt.Errorf("predicate does not decode as a job predicate: %w", err))
			pred = nil
		} else if err := pred.Validate(); err != nil {
			note(CheckPredicate, err)
			pred = nil
		} else {
			res.add(CheckPredicate, VerdictPass, "job predicate is well-formed")
		}
	}

	if !cfg.policy.IsZero() {
		if pred == nil {
			note(CheckPredicate, errors.New("policy rules need a valid job predicate"))
		} else {
			for _, pc := range cfg.policy.evaluate(pred) {
				if len(pc.violations) == 0 {
					res.add(pc.name, VerdictPass, pc.pass)
				} else {
					note(pc.name, errors.New(strings.Join(pc.violations, "; ")))
				}
			}
		}
	}

	if failed != nil {
		return res, failed
	}
	res.Verified = true
	res.Signer = signer
	res.Timestamps = stamps
	res.Statement = stmt
	res.Subjects = stmt.Subject
	res.MatchedSubject = matched
	res.Predicate = pred
	return res, nil
}

// failSignature records why sigstore-go refused the bundle (without the
// subject check): for a certificate, it tells an identity mismatch from a
// bad signature or chain, and a missing timestamp from both.
func failSignature(res *Result, b *bundle.Bundle, cfg *verifyConfig, err error) (*Result, error) {
	check, msg := CheckSignature, err
	switch {
	case cfg.signerKind == signerKindKey && !cfg.needTimestamp:
		msg = fmt.Errorf("not signed by the given key, or altered after signing: %w", err)
	case cfg.signerKind == signerKindKey:
		if isTimestampError(err) {
			check = CheckTimestamp
		} else {
			msg = fmt.Errorf("not signed by the given key, or altered after signing: %w", err)
		}
	default:
		// A certificate: does the bundle verify for any identity?
		if vr, anyErr := cfg.sev.Verify(b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithoutIdentitiesUnsafe())); anyErr == nil {
			signer, stamps := signerInfo(cfg, vr)
			res.add(CheckSignature, VerdictPass, signatureDetail(cfg))
			res.add(CheckTimestamp, VerdictPass, describeTimestamps(stamps))
			check = CheckSigner
			msg = fmt.Errorf("the certificate was issued to %s, which is not %s", describeCertificate(signer), cfg.signerDetail)
		} else if isTimestampError(err) {
			res.add(CheckSignature, VerdictSkip, "not reached: the signing time could not be established")
			check = CheckTimestamp
		} else {
			msg = fmt.Errorf("the signature or its certificate does not verify against the trusted root, or the bundle was altered after signing: %w", err)
		}
	}
	res.add(check, VerdictFail, msg.Error())
	return res, &Error{Check: check, Err: msg}
}

// isTimestampError reports whether sigstore-go refused for lack of
// trusted time evidence.
func isTimestampError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "timestamp") && (strings.Contains(s, "threshold") || strings.Contains(s, "verif"))
}

func signatureDetail(cfg *verifyConfig) string {
	if cfg.signerKind == signerKindKey {
		return "DSSE signature verified with the given key"
	}
	return "DSSE signature verified with a certificate from a trusted Fulcio CA"
}

func signerInfo(cfg *verifyConfig, vr *sgverify.VerificationResult) (*SignerInfo, []Timestamp) {
	info := &SignerInfo{Kind: cfg.signerKind}
	if vr == nil {
		return info, nil
	}
	if vr.Signature != nil && vr.Signature.Certificate != nil {
		c := *vr.Signature.Certificate
		info.Certificate = &c
	}
	var stamps []Timestamp
	for _, t := range vr.VerifiedTimestamps {
		kind := t.Type
		switch t.Type {
		case "TimestampAuthority":
			kind = "tsa"
		case "Tlog":
			kind = "tlog"
		}
		stamps = append(stamps, Timestamp{Type: kind, URI: t.URI, Time: t.Timestamp.UTC()})
	}
	return info, stamps
}

func describeSigner(cfg *verifyConfig, s *SignerInfo) string {
	if cfg.signerKind == signerKindKey {
		return cfg.signerDetail
	}
	return describeCertificate(s) + " (" + cfg.signerDetail + ")"
}

func describeCertificate(s *SignerInfo) string {
	if s == nil || s.Certificate == nil {
		return "an unknown identity"
	}
	return fmt.Sprintf("%q (issuer %q)", s.Certificate.SubjectAlternativeName, s.Certificate.Issuer)
}

func describeTimestamps(ts []Timestamp) string {
	if len(ts) == 0 {
		return "no timestamp"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Type + " " + t.Time.Format(time.RFC3339)
		if t.URI != "" {
			parts[i] += " (" + t.URI + ")"
		}
	}
	return strings.Join(parts, ", ")
}

func findSubject(subjects []attest.Subject, digests []sgverify.ArtifactDigest) *attest.Subject {
	for _, want := range digests {
		h := hex.EncodeToString(want.Digest)
		for i := range subjects {
			if strings.EqualFold(subjects[i].Digest[want.Algorithm], h) {
				s := subjects[i]
				return &s
			}
		}
	}
	return nil
}

func describeDigests(ds []sgverify.ArtifactDigest) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Algorithm + ":" + hex.EncodeToString(d.Digest)
	}
	return strings.Join(parts, ", ")
}

func describeSubjects(ss []attest.Subject) string {
	const show = 5
	var parts []string
	for i, s := range ss {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(ss)-show))
			break
		}
		d := s.Digest["sha256"]
		if d == "" {
			d = "(no sha256)"
		} else {
			d = "sha256:" + d
		}
		parts = append(parts, fmt.Sprintf("%q %s", s.Name, d))
	}
	return strings.Join(parts, "; ")
}
