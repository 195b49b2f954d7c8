package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// VerifyOptions says what a bundle must satisfy. The zero value verifies
// nothing and is refused: a signer (today: a public key) is required, and
// so is a subject to look for unless WithoutArtifactUnsafe is set.
type VerifyOptions struct {
	// PublicKeyPEM is the PEM public key ("PUBLIC KEY") that must have
	// signed the bundle, as with cosign --key. Required today; keyless
	// verification will add a certificate identity (issuer + SAN) and a
	// trusted root as the alternative signer source, and exactly one of
	// the two will be required.
	PublicKeyPEM []byte

	// PredicateType is the predicate type the statement must carry.
	// Empty means PredicateTypeJob. It is always checked.
	PredicateType string

	// The subject the statement must name. Set exactly one of Artifact (its
	// contents, hashed with SHA-256, as with cosign's positional blob) and
	// ArtifactDigest (as with cosign --digest/--digestAlg). For a job
	// attestation without artifacts use JobSubjectDigest(runURI).
	Artifact       io.Reader
	ArtifactDigest *Digest

	// WithoutArtifactUnsafe skips the subject check (cosign
	// --check-claims=false). The signature and predicate type are still
	// checked. Only for callers that check the subjects themselves.
	WithoutArtifactUnsafe bool
}

// Names of the checks in a Result, in the order they run.
const (
	CheckBundle        = "bundle"        // size, media type, DSSE envelope with an in-toto payload
	CheckSignature     = "signature"     // DSSE signature by the expected key (sigstore-go)
	CheckStatement     = "statement"     // the payload is an in-toto Statement v1
	CheckPredicateType = "predicateType" // the statement's predicate type is the expected one
	CheckSubject       = "subject"       // a subject carries the expected digest (sigstore-go)
	CheckPredicate     = "predicate"     // the predicate decodes and satisfies JobPredicate.Validate
)

// Verdicts of a Check.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
	VerdictSkip = "skip"
)

// Check is the verdict of one verification step.
type Check struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
}

// Result reports what Verify checked. Checks is always filled in as far
// as verification got. Statement, Subjects, MatchedSubject and Predicate
// are set only when Verified is true (every check passed or was skipped),
// so content of an unverified bundle can never be mistaken for verified
// content.
type Result struct {
	Verified        bool          `json:"verified"`
	BundleMediaType string        `json:"bundleMediaType,omitempty"`
	PublicKeyHint   string        `json:"publicKeyHint,omitempty"`
	Checks          []Check       `json:"checks"`
	Statement       *Statement    `json:"statement,omitempty"`
	Subjects        []Subject     `json:"subjects,omitempty"`
	MatchedSubject  *Subject      `json:"matchedSubject,omitempty"`
	Predicate       *JobPredicate `json:"predicate,omitempty"` // when the predicate type is PredicateTypeJob
}

// Check returns the check with the given name, if it ran.
func (r *Result) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func (r *Result) add(name, verdict, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Verdict: verdict, Detail: detail})
}

// VerificationError is returned when a bundle fails a check. Check is the
// name of the first failed check (see the Check* constants).
type VerificationError struct {
	Check string
	Err   error
}

func (e *VerificationError) Error() string {
	return "attestation not verified: " + e.Check + ": " + e.Err.Error()
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Verify checks a Sigstore bundle (JSON, at most MaxBundleSize bytes)
// holding a DSSE-signed in-toto statement: the DSSE signature against the
// given key (sigstore-go, no transparency log or timestamps, as cosign
// verify-blob-attestation --key --insecure-ignore-tlog), the predicate
// type, the subject digest, and, for job attestations, the predicate
// contents.
//
// A misused VerifyOptions yields (nil, error). A bundle that fails a check
// yields a Result recording the checks (with Verified false and no
// content) and a *VerificationError.
func Verify(bundleJSON []byte, opts VerifyOptions) (*Result, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	return verifyBundle(bundleJSON, cfg)
}

// verifyConfig is VerifyOptions resolved into sigstore-go terms.
type verifyConfig struct {
	trusted         root.TrustedMaterial
	verifierOpts    []verify.VerifierOption
	identity        verify.PolicyOption
	predicateType   string
	digests         []verify.ArtifactDigest
	withoutArtifact bool
}

func (o VerifyOptions) config() (*verifyConfig, error) {
	if len(o.PublicKeyPEM) == 0 {
		return nil, errors.New("verify: no public key given; refusing to verify without knowing who must have signed")
	}
	pub, err := ParsePublicKeyPEM(o.PublicKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %s: %w", describeKey(pub), err)
	}
	cfg := keyConfig(v)
	cfg.predicateType = o.PredicateType
	if cfg.predicateType == "" {
		cfg.predicateType = PredicateTypeJob
	}

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
		return nil, errors.New("verify: no subject to check: give the artifact or its digest (or explicitly skip the check with WithoutArtifactUnsafe)")
	case n > 1:
		return nil, errors.New("verify: give only one of the artifact, its digest, and WithoutArtifactUnsafe")
	case o.WithoutArtifactUnsafe:
		cfg.withoutArtifact = true
	case o.ArtifactDigest != nil:
		raw, err := o.ArtifactDigest.bytes()
		if err != nil {
			return nil, fmt.Errorf("verify: artifact digest: %w", err)
		}
		cfg.digests = []verify.ArtifactDigest{{Algorithm: o.ArtifactDigest.Algorithm, Digest: raw}}
	default:
		h := sha256.New()
		if _, err := io.Copy(h, o.Artifact); err != nil {
			return nil, fmt.Errorf("verify: reading the artifact: %w", err)
		}
		cfg.digests = []verify.ArtifactDigest{{Algorithm: "sha256", Digest: h.Sum(nil)}}
	}
	return cfg, nil
}

// keyConfig trusts exactly one public key, whatever key hint the bundle
// names (as cosign --key does); no timestamps or log entries are required.
func keyConfig(v signature.Verifier) *verifyConfig {
	key := root.NewExpiringKey(v, time.Time{}, time.Time{})
	return &verifyConfig{
		trusted: root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return key, nil
		}),
		verifierOpts: []verify.VerifierOption{verify.WithNoObserverTimestamps(), verify.WithoutStatementPredicate()},
		identity:     verify.WithKey(),
	}
}

func verifyBundle(bundleJSON []byte, cfg *verifyConfig) (*Result, error) {
	res := &Result{}
	fail := func(check string, err error) (*Result, error) {
		res.add(check, VerdictFail, err.Error())
		return res, &VerificationError{Check: check, Err: err}
	}

	// bundle: structure, before any cryptography.
	if len(bundleJSON) > MaxBundleSize {
		return fail(CheckBundle, fmt.Errorf("bundle is %d bytes, more than the %d allowed", len(bundleJSON), MaxBundleSize))
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
	if env.GetPayloadType() != PayloadTypeInToto {
		return fail(CheckBundle, fmt.Errorf("DSSE payload type is %q, want %s", env.GetPayloadType(), PayloadTypeInToto))
	}
	res.add(CheckBundle, VerdictPass, res.BundleMediaType)

	// signature (and, in the same sigstore-go call, the subject digest).
	sev, err := verify.NewVerifier(cfg.trusted, cfg.verifierOpts...)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	artifactPolicy := verify.WithoutArtifactUnsafe()
	if !cfg.withoutArtifact {
		artifactPolicy = verify.WithArtifactDigests(cfg.digests)
	}
	_, fullErr := sev.Verify(&b, verify.NewPolicy(artifactPolicy, cfg.identity))
	var subjectErr error
	if fullErr != nil {
		if cfg.withoutArtifact {
			return fail(CheckSignature, signatureError(fullErr))
		}
		// Tell a bad signature from a subject mismatch.
		if _, sigErr := sev.Verify(&b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), cfg.identity)); sigErr != nil {
			return fail(CheckSignature, signatureError(sigErr))
		}
		subjectErr = fullErr
	}
	res.add(CheckSignature, VerdictPass, "DSSE signature verified with the given key")

	// From here on the payload is authentic; check what it says.
	stmt, err := ParseStatement(env.GetPayload())
	if err != nil {
		return fail(CheckStatement, err)
	}
	res.add(CheckStatement, VerdictPass, stmt.Type)

	var failed *VerificationError
	note := func(check string, err error) {
		res.add(check, VerdictFail, err.Error())
		if failed == nil {
			failed = &VerificationError{Check: check, Err: err}
		}
	}

	typeOK := stmt.PredicateType == cfg.predicateType
	if typeOK {
		res.add(CheckPredicateType, VerdictPass, stmt.PredicateType)
	} else {
		note(CheckPredicateType, fmt.Errorf("predicate type is %q, want %q", stmt.PredicateType, cfg.predicateType))
	}

	var matched *Subject
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

	var pred *JobPredicate
	if typeOK && stmt.PredicateType == PredicateTypeJob {
		pred = &JobPredicate{}
		if err := json.Unmarshal(stmt.Predicate, pred); err != nil {
			note(CheckPredicate, fmt.Errorf("predicate does not decode as a job predicate: %w", err))
		} else if err := pred.Validate(); err != nil {
			note(CheckPredicate, err)
		} else {
			res.add(CheckPredicate, VerdictPass, "job predicate is well-formed")
		}
	}

	if failed != nil {
		return res, failed
	}
	res.Verified = true
	res.Statement = stmt
	res.Subjects = stmt.Subject
	res.MatchedSubject = matched
	res.Predicate = pred
	return res, nil
}

func signatureError(err error) error {
	return fmt.Errorf("not signed by the given key, or altered after signing: %w", err)
}

func findSubject(subjects []Subject, digests []verify.ArtifactDigest) *Subject {
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

func describeDigests(ds []verify.ArtifactDigest) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Algorithm + ":" + hex.EncodeToString(d.Digest)
	}
	return strings.Join(parts, ", ")
}

func describeSubjects(ss []Subject) string {
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
