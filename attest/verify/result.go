package verify

import (
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/chaperone-ci/chaperone/attest"
)

// Names of the checks in a Result, in the order they run. The policy
// checks (CheckRequireRevoked …) run only when the Policy asks for them.
const (
	CheckBundle        = "bundle"        // size, media type, DSSE envelope with an in-toto payload
	CheckSignature     = "signature"     // DSSE signature by the given key, or by a certificate chaining to a trusted Fulcio CA (sigstore-go)
	CheckTimestamp     = "timestamp"     // RFC 3161 timestamps / log entries the time policy requires (sigstore-go)
	CheckSigner        = "signer"        // the certificate's identity (SAN) and OIDC issuer match, or the given key signed
	CheckStatement     = "statement"     // the payload is an in-toto Statement v1
	CheckPredicateType = "predicateType" // the statement's predicate type is the expected one
	CheckSubject       = "subject"       // a subject carries the expected digest (sigstore-go)
	CheckPredicate     = "predicate"     // the predicate decodes and satisfies attest.JobPredicate.Validate

	CheckRequireRevoked  = "requireRevoked"   // Policy.RequireRevoked
	CheckMaxGrantTTL     = "maxGrantTTL"      // Policy.MaxGrantTTL
	CheckAllowedScopes   = "allowedScopes"    // Policy.AllowScopes
	CheckAllowedProvider = "allowedProviders" // Policy.AllowProviders
	CheckOwnerPolicy     = "ownerPolicy"      // Policy.OwnerPolicy
	CheckRequireOutcome  = "requireOutcome"   // Policy.RequireOutcome
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

// Result reports what Verifier.Verify checked. Checks is always filled in
// as far as verification got. Statement, Subjects, MatchedSubject, Predicate,
// Signer and Timestamps are set only when Verified is true (every check
// passed or was skipped), so content of an unverified bundle can never be
// mistaken for verified content.
type Result struct {
	Verified        bool                 `json:"verified"`
	BundleMediaType string               `json:"bundleMediaType,omitempty"`
	PublicKeyHint   string               `json:"publicKeyHint,omitempty"`
	Checks          []Check              `json:"checks"`
	Signer          *SignerInfo          `json:"signer,omitempty"`
	Timestamps      []Timestamp          `json:"timestamps,omitempty"`
	Statement       *attest.Statement    `json:"statement,omitempty"`
	Subjects        []attest.Subject     `json:"subjects,omitempty"`
	MatchedSubject  *attest.Subject      `json:"matchedSubject,omitempty"`
	Predicate       *attest.JobPredicate `json:"predicate,omitempty"` // when the predicate type is attest.PredicateTypeJob
}

// SignerInfo says who signed a verified bundle.
type SignerInfo struct {
	// Kind is "key" (a public key given to the verifier) or "certificate"
	// (a Fulcio certificate for an OIDC identity).
	Kind string `json:"kind"`
	// Certificate summarises the signing certificate: SAN, OIDC issuer,
	// and the Fulcio extensions (repository, workflow, ref, trigger …).
	Certificate *certificate.Summary `json:"certificate,omitempty"`
}

// Timestamp is one verified time source: an RFC 3161 timestamp ("tsa") or
// a transparency log's integrated time ("tlog").
type Timestamp struct {
	Type string    `json:"type"`
	URI  string    `json:"uri,omitempty"`
	Time time.Time `json:"time"`
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

// Error is returned when a bundle fails a check. Check is the name of the
// first failed check (see the Check* constants).
type Error struct {
	Check string
	Err   error
}

func (e *Error) Error() string {
	return "attestation not verified: " + e.Check + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }
