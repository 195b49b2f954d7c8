// Package report says what each non-human identity did across many job
// attestations, each verified first: Build verifies bundle files with a
// Verifier and counts the ones that pass; WriteTable and WriteHTML render
// the result, and a Report encodes as JSON.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/attest"

	"github.com/chaperone-ci/chaperone/attest/verify"
)

// A Report says what each non-human identity did across many verified
// job attestations: its jobs and their outcomes, the credentials it
// obtained (by scope, provider and principal) and what became of them, the
// scopes it was refused, and what the masker caught. Bundles that did not
// verify are listed, never counted.
type Report struct {
	Identities []*Identity       `json:"identities"`
	Rejected   []Rejection       `json:"rejected"`
	jobs       map[string]string // job key → the bundle counted for it
}

// Identity is one identity's activity: an issuer and a subject.
type Identity struct {
	Issuer       string         `json:"issuer"`
	Subject      string         `json:"subject"`
	Jobs         int            `json:"jobs"`
	Outcomes     map[string]int `json:"outcomes"`
	FirstJob     time.Time      `json:"firstJob"`
	LastJob      time.Time      `json:"lastJob"`
	Grants       []*Grant       `json:"grants"`
	Refused      map[string]int `json:"refused,omitempty"` // by scope
	Redactions   int            `json:"redactions"`
	DetectorHits map[string]int `json:"detectorHits,omitempty"`
}

// Grant counts the grants of one scope, provider and principal.
type Grant struct {
	Scope       string        `json:"scope"`
	Provider    string        `json:"provider"`
	Principal   string        `json:"principal"`
	Issued      int           `json:"issued"`
	Revoked     int           `json:"revoked"`
	Expired     int           `json:"expiryBound"` // not revocable: bounded by expiry
	Failed      int           `json:"revocationFailed"`
	Refreshes   int           `json:"refreshes"`
	Fetches     int           `json:"fetches"`
	MaxLifetime time.Duration `json:"maxLifetime"` // longest issued lifetime (expiresAt − issuedAt), refreshed credentials included
	// Unbounded counts credentials with no expiry that were not revoked:
	// their lifetime has no bound.
	Unbounded int `json:"unbounded"`
}

// Rejection is a bundle left out of the report, and why.
type Rejection struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Build verifies each bundle file with v, counts it (Add), and sorts the
// report. A file that cannot be read is rejected, like a bundle that does
// not verify. Identities and Rejected are never nil, so that they encode
// as JSON arrays.
func Build(v *verify.Verifier, paths []string) *Report {
	r := &Report{Identities: []*Identity{}, Rejected: []Rejection{}}
	for _, p := range paths {
		data, err := attest.ReadBundleFile(p)
		if err != nil {
			r.Add(p, nil, err)
			continue
		}
		res, err := v.Verify(data)
		r.Add(p, res, err)
	}
	r.Sort()
	return r
}

// Add counts one bundle: res and err as a Verifier returned them. A job
// attestation must also name its own job as a subject (attest.JobSubject
// of its run URI), since a report verifies without a subject given.
func (r *Report) Add(name string, res *verify.Result, err error) {
	switch {
	case err != nil:
		r.Rejected = append(r.Rejected, Rejection{name, err.Error()})
		return
	case res == nil || !res.Verified || res.Predicate == nil:
		r.Rejected = append(r.Rejected, Rejection{name, "not a verified job attestation"})
		return
	}
	pred := res.Predicate
	if !hasSubject(res.Subjects, attest.JobSubject(pred.Job.RunURI)) {
		r.Rejected = append(r.Rejected, Rejection{name, fmt.Sprintf("its subjects do not name its own job %s", pred.Job.RunURI)})
		return
	}
	if why := signerMismatch(res.Signer, pred); why != "" {
		r.Rejected = append(r.Rejected, Rejection{name, why})
		return
	}
	if r.jobs == nil {
		r.jobs = map[string]string{}
	}
	// The jobs of one workflow run share its run URI: a job is its run,
	// its job id, its start and its tokens.
	key := strings.Join(append([]string{pred.Job.RunURI, pred.Job.JobID, pred.StartedAt.Format(time.RFC3339Nano)}, pred.Identity.TokenSHA256...), "|")
	if first, ok := r.jobs[key]; ok {
		r.Rejected = append(r.Rejected, Rejection{name, fmt.Sprintf("a job of %s already counted, from %s", pred.Job.RunURI, first)})
		return
	}
	r.jobs[key] = name
	id := r.identity(pred.Identity.Issuer, pred.Identity.Subject)
	id.Jobs++
	id.Outcomes[pred.Outcome]++
	if t := pred.StartedAt; !t.IsZero() {
		if id.FirstJob.IsZero() || t.Before(id.FirstJob) {
			id.FirstJob = t
		}
		if t.After(id.LastJob) {
			id.LastJob = t
		}
	}
	for _, g := range pred.Grants {
		gr := id.grant(g.Scope, g.Provider, g.Principal)
		gr.Issued++
		gr.count(g.IssuedAt, g.ExpiresAt, &g.Revocation)
		gr.Refreshes += len(g.Refreshes)
		gr.Fetches += len(g.Fetches)
		for _, old := range g.Refreshes {
			gr.count(old.IssuedAt, old.ExpiresAt, old.Revocation)
		}
	}
	for _, ref := range pred.Refused {
		if id.Refused == nil {
			id.Refused = map[string]int{}
		}
		id.Refused[ref.Scope]++
	}
	id.Redactions += pred.Masking.Redactions
	for rule, n := range pred.Masking.DetectorHits {
		if id.DetectorHits == nil {
			id.DetectorHits = map[string]int{}
		}
		id.DetectorHits[rule] += n
	}
}

// count records what became of one credential of the grant.
func (g *Grant) count(issued, expires time.Time, rev *attest.Revocation) {
	if rev != nil {
		switch rev.Outcome {
		case attest.RevocationRevoked:
			g.Revoked++
		case attest.RevocationExpiry:
			g.Expired++
		case attest.RevocationFailed:
			g.Failed++
		}
	}
	switch {
	case !expires.IsZero():
		g.MaxLifetime = max(g.MaxLifetime, expires.Sub(issued))
	case rev != nil && rev.Outcome == attest.RevocationRevoked && rev.At != nil:
		g.MaxLifetime = max(g.MaxLifetime, rev.At.Sub(issued))
	default:
		g.Unbounded++
	}
}

// signerMismatch says why a keyless bundle's certificate does not belong
// to the job its predicate names (a job may sign only its own record), or
// "" if it does or the signer is a key.
func signerMismatch(signer *verify.SignerInfo, pred *attest.JobPredicate) string {
	if signer == nil || signer.Certificate == nil {
		return ""
	}
	c := signer.Certificate
	if c.Issuer != "" && c.Issuer != pred.Identity.Issuer {
		return fmt.Sprintf("signed with a certificate for issuer %s, but the job's identity is from %s", c.Issuer, pred.Identity.Issuer)
	}
	if c.SourceRepositoryURI != "" && pred.Job.Repository != "" && !strings.HasSuffix(c.SourceRepositoryURI, "/"+pred.Job.Repository) {
		return fmt.Sprintf("signed by a workflow of %s, but the job is of %s", c.SourceRepositoryURI, pred.Job.Repository)
	}
	return ""
}

func hasSubject(subjects []attest.Subject, want attest.Subject) bool {
	for _, s := range subjects {
		if s.Name == want.Name && s.Digest["sha256"] == want.Digest["sha256"] {
			return true
		}
	}
	return false
}

func (r *Report) identity(issuer, subject string) *Identity {
	for _, id := range r.Identities {
		if id.Issuer == issuer && id.Subject == subject {
			return id
		}
	}
	id := &Identity{Issuer: issuer, Subject: subject, Outcomes: map[string]int{}}
	r.Identities = append(r.Identities, id)
	return id
}

func (id *Identity) grant(scope, provider, principal string) *Grant {
	for _, g := range id.Grants {
		if g.Scope == scope && g.Provider == provider && g.Principal == principal {
			return g
		}
	}
	g := &Grant{Scope: scope, Provider: provider, Principal: principal}
	id.Grants = append(id.Grants, g)
	return g
}

// Sort orders identities by issuer and subject, and their grants by scope,
// provider and principal, so that a report does not depend on the order
// of its bundles.
func (r *Report) Sort() {
	slices.SortFunc(r.Identities, func(a, b *Identity) int {
		return cmp.Or(strings.Compare(a.Issuer, b.Issuer), strings.Compare(a.Subject, b.Subject))
	})
	for _, id := range r.Identities {
		slices.SortFunc(id.Grants, func(a, b *Grant) int {
			return cmp.Or(strings.Compare(a.Scope, b.Scope), strings.Compare(a.Provider, b.Provider), strings.Compare(a.Principal, b.Principal))
		})
	}
	slices.SortFunc(r.Rejected, func(a, b Rejection) int { return strings.Compare(a.Name, b.Name) })
}
