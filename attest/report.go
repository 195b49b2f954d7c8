package attest

import (
	"fmt"
	"sort"
	"time"
)

// A Report says what each non-human identity did across many verified
// job attestations: its jobs and their outcomes, the credentials it
// obtained (by scope, provider and principal) and what became of them, the
// scopes it was refused, and what the masker caught. Bundles that did not
// verify are listed, never counted.
type Report struct {
	Identities []*IdentityReport `json:"identities"`
	Rejected   []RejectedBundle  `json:"rejected"`
}

// IdentityReport is one identity's activity: an issuer and a subject.
type IdentityReport struct {
	Issuer       string         `json:"issuer"`
	Subject      string         `json:"subject"`
	Jobs         int            `json:"jobs"`
	Outcomes     map[string]int `json:"outcomes"`
	FirstJob     time.Time      `json:"firstJob"`
	LastJob      time.Time      `json:"lastJob"`
	Grants       []*GrantReport `json:"grants"`
	Refused      map[string]int `json:"refused,omitempty"` // by scope
	Redactions   int            `json:"redactions"`
	DetectorHits map[string]int `json:"detectorHits,omitempty"`
}

// GrantReport counts the grants of one scope, provider and principal.
type GrantReport struct {
	Scope       string        `json:"scope"`
	Provider    string        `json:"provider"`
	Principal   string        `json:"principal"`
	Issued      int           `json:"issued"`
	Revoked     int           `json:"revoked"`
	Expired     int           `json:"expiryBound"` // not revocable: bounded by expiry
	Failed      int           `json:"revocationFailed"`
	Refreshes   int           `json:"refreshes"`
	Fetches     int           `json:"fetches"`
	MaxLifetime time.Duration `json:"maxLifetime"` // longest issued lifetime (expiresAt − issuedAt)
}

// RejectedBundle is a bundle left out of the report, and why.
type RejectedBundle struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Add counts one bundle: res and err as a Verifier returned them. A job
// attestation must also name its own job as a subject (JobSubject of its
// run URI), since a report verifies without a subject given.
func (r *Report) Add(name string, res *Result, err error) {
	switch {
	case err != nil:
		r.Rejected = append(r.Rejected, RejectedBundle{name, err.Error()})
		return
	case res == nil || !res.Verified || res.Predicate == nil:
		r.Rejected = append(r.Rejected, RejectedBundle{name, "not a verified job attestation"})
		return
	}
	pred := res.Predicate
	if !hasSubject(res.Subjects, JobSubject(pred.Job.RunURI)) {
		r.Rejected = append(r.Rejected, RejectedBundle{name, fmt.Sprintf("its subjects do not name its own job %s", pred.Job.RunURI)})
		return
	}
	id := r.identity(pred.Identity.Issuer, pred.Identity.Subject)
	id.Jobs++
	id.Outcomes[pred.Outcome]++
	if id.FirstJob.IsZero() || pred.StartedAt.Before(id.FirstJob) {
		id.FirstJob = pred.StartedAt
	}
	if pred.StartedAt.After(id.LastJob) {
		id.LastJob = pred.StartedAt
	}
	for _, g := range pred.Grants {
		gr := id.grant(g.Scope, g.Provider, g.Principal)
		gr.Issued++
		switch g.Revocation.Outcome {
		case RevocationRevoked:
			gr.Revoked++
		case RevocationExpiry:
			gr.Expired++
		case RevocationFailed:
			gr.Failed++
		}
		gr.Refreshes += len(g.Refreshes)
		gr.Fetches += len(g.Fetches)
		if !g.ExpiresAt.IsZero() {
			gr.MaxLifetime = max(gr.MaxLifetime, g.ExpiresAt.Sub(g.IssuedAt))
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

func hasSubject(subjects []Subject, want Subject) bool {
	for _, s := range subjects {
		if s.Name == want.Name && s.Digest["sha256"] == want.Digest["sha256"] {
			return true
		}
	}
	return false
}

func (r *Report) identity(issuer, subject string) *IdentityReport {
	for _, id := range r.Identities {
		if id.Issuer == issuer && id.Subject == subject {
			return id
		}
	}
	id := &IdentityReport{Issuer: issuer, Subject: subject, Outcomes: map[string]int{}}
	r.Identities = append(r.Identities, id)
	return id
}

func (id *IdentityReport) grant(scope, provider, principal string) *GrantReport {
	for _, g := range id.Grants {
		if g.Scope == scope && g.Provider == provider && g.Principal == principal {
			return g
		}
	}
	g := &GrantReport{Scope: scope, Provider: provider, Principal: principal}
	id.Grants = append(id.Grants, g)
	return g
}

// Sort orders identities by issuer and subject, and their grants by scope,
// provider and principal, so that a report does not depend on the order
// of its bundles.
func (r *Report) Sort() {
	sort.Slice(r.Identities, func(i, j int) bool {
		a, b := r.Identities[i], r.Identities[j]
		if a.Issuer != b.Issuer {
			return a.Issuer < b.Issuer
		}
		return a.Subject < b.Subject
	})
	for _, id := range r.Identities {
		sort.Slice(id.Grants, func(i, j int) bool {
			a, b := id.Grants[i], id.Grants[j]
			if a.Scope != b.Scope {
				return a.Scope < b.Scope
			}
			if a.Provider != b.Provider {
				return a.Provider < b.Provider
			}
			return a.Principal < b.Principal
		})
	}
	sort.Slice(r.Rejected, func(i, j int) bool { return r.Rejected[i].Name < r.Rejected[j].Name })
}
