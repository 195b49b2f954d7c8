// Package report says what each non-human identity did across many job
// attestations, each verified first, and where an identity behaved unlike
// itself. Build verifies bundle files in parallel with one Verifier and
// counts the ones that pass; a Report keeps per-identity summaries, never
// a bundle's bytes. WriteTable and WriteHTML render the result, and a
// Report encodes as JSON.
package report

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/attest"

	"github.com/chaperone-ci/chaperone/attest/verify"
)

// Options set the rules anomalies are judged by (docs/report.md). The
// zero value means the defaults.
type Options struct {
	// StaleAfter is the longest silence before an identity's latest job
	// that is not an anomaly; default 90 days.
	StaleAfter time.Duration
	// MinHistory is how many earlier jobs an identity needs before its
	// usual hours and grant lifetimes are judged; default 5.
	MinHistory int
	// Workers is how many bundles Build verifies at once; default
	// GOMAXPROCS.
	Workers int
}

// Defaults of Options.
const (
	DefaultStaleAfter = 90 * 24 * time.Hour
	DefaultMinHistory = 5
)

func (o Options) withDefaults() Options {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.MinHistory <= 0 {
		o.MinHistory = DefaultMinHistory
	}
	return o
}

// A Report says what each non-human identity did across many verified
// job attestations: its jobs and their outcomes, the credentials it
// obtained (by scope, provider and principal) and what became of them, the
// scopes it was refused, what the masker caught, and its anomalies.
// Bundles that did not verify are listed, never counted.
//
// Make one with New, Add bundles in input order, then Finish; or Build.
type Report struct {
	Identities []*Identity `json:"identities"`
	Rejected   []Rejection `json:"rejected"`
	// Anomalies counts the anomalies of every identity.
	Anomalies int `json:"anomalies"`

	opts    Options
	jobs    map[[sha256.Size]byte]string // job key → the bundle counted for it
	byKey   map[[2]string]*Identity
	strs    map[string]string // interned names: scopes, providers, refs
	span    [2]time.Time      // earliest and latest job of the report
	counted int
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
	// Anomalies are where the identity behaved unlike its own history,
	// in the order of its jobs; never nil once the report is finished.
	Anomalies []Anomaly `json:"anomalies"`

	history []*job // one summary per counted job; sorted by Finish
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

// job is what the anomaly rules need of one counted job.
type job struct {
	order   int // the order Add counted it in: ties of start time
	name    string
	started time.Time
	ref     string
	runner  string
	creds   []cred
	flagged bool
}

// cred is one credential of a job: a grant's last, or a refreshed one.
type cred struct {
	scope, provider string
	lifetime        time.Duration // 0: unknown (no expiry)
	outcome         string        // revocation outcome; "" when none recorded
}

// New starts an empty report judged by opts.
func New(opts Options) *Report {
	return &Report{
		Identities: []*Identity{},
		Rejected:   []Rejection{},
		opts:       opts.withDefaults(),
		jobs:       map[[sha256.Size]byte]string{},
		byKey:      map[[2]string]*Identity{},
		strs:       map[string]string{},
	}
}

// Add counts one bundle: res and err as a Verifier returned them. A job
// attestation must also name its own job as a subject (attest.JobSubject
// of its run URI), since a report verifies without a subject given. Of
// two bundles of the same job, the one added first counts.
func (r *Report) Add(name string, res *verify.Result, err error) {
	if r.jobs == nil { // a zero Report
		*r = *New(r.opts)
	}
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
	// The jobs of one workflow run share its run URI: a job is its run,
	// its job id, its start and its tokens.
	key := sha256.Sum256([]byte(strings.Join(append([]string{pred.Job.RunURI, pred.Job.JobID, pred.StartedAt.Format(time.RFC3339Nano)}, pred.Identity.TokenSHA256...), "\x00")))
	if first, ok := r.jobs[key]; ok {
		r.Rejected = append(r.Rejected, Rejection{name, fmt.Sprintf("a job of %s already counted, from %s", pred.Job.RunURI, first)})
		return
	}
	r.jobs[key] = name
	id := r.identity(pred.Identity.Issuer, pred.Identity.Subject)
	id.Jobs++
	id.Outcomes[r.intern(pred.Outcome)]++
	if t := pred.StartedAt; !t.IsZero() {
		if id.FirstJob.IsZero() || t.Before(id.FirstJob) {
			id.FirstJob = t
		}
		if t.After(id.LastJob) {
			id.LastJob = t
		}
		if r.span[0].IsZero() || t.Before(r.span[0]) {
			r.span[0] = t
		}
		if t.After(r.span[1]) {
			r.span[1] = t
		}
	}
	j := &job{order: r.counted, name: name, started: pred.StartedAt, ref: r.intern(pred.Job.Ref), runner: r.intern(runnerEnvironment(pred))}
	r.counted++
	for _, g := range pred.Grants {
		gr := id.grant(r.intern(g.Scope), r.intern(g.Provider), r.intern(g.Principal))
		gr.Issued++
		gr.count(g.IssuedAt, g.ExpiresAt, &g.Revocation)
		j.creds = append(j.creds, r.cred(g.Scope, g.Provider, g.IssuedAt, g.ExpiresAt, &g.Revocation))
		gr.Refreshes += len(g.Refreshes)
		gr.Fetches += len(g.Fetches)
		for _, old := range g.Refreshes {
			gr.count(old.IssuedAt, old.ExpiresAt, old.Revocation)
			j.creds = append(j.creds, r.cred(g.Scope, g.Provider, old.IssuedAt, old.ExpiresAt, old.Revocation))
		}
	}
	id.history = append(id.history, j)
	for _, ref := range pred.Refused {
		if id.Refused == nil {
			id.Refused = map[string]int{}
		}
		id.Refused[r.intern(ref.Scope)]++
	}
	id.Redactions += pred.Masking.Redactions
	for rule, n := range pred.Masking.DetectorHits {
		if id.DetectorHits == nil {
			id.DetectorHits = map[string]int{}
		}
		id.DetectorHits[r.intern(rule)] += n
	}
}

// runnerEnvironment is the job's runner environment (github-hosted,
// self-hosted, …): the job's field, else the identity's
// runner_environment claim.
func runnerEnvironment(pred *attest.JobPredicate) string {
	if pred.Job.RunnerEnvironment != "" {
		return pred.Job.RunnerEnvironment
	}
	return pred.Identity.Claims["runner_environment"]
}

func (r *Report) cred(scope, provider string, issued, expires time.Time, rev *attest.Revocation) cred {
	c := cred{scope: r.intern(scope), provider: r.intern(provider)}
	if !expires.IsZero() && !issued.IsZero() {
		c.lifetime = expires.Sub(issued)
	}
	if rev != nil {
		c.outcome = r.intern(rev.Outcome)
	}
	return c
}

// intern returns one copy of each distinct string, so that a report of
// many jobs holds each scope, provider and ref once.
func (r *Report) intern(s string) string {
	if v, ok := r.strs[s]; ok {
		return v
	}
	r.strs[s] = s
	return s
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
	k := [2]string{issuer, subject}
	if id, ok := r.byKey[k]; ok {
		return id
	}
	id := &Identity{Issuer: issuer, Subject: subject, Outcomes: map[string]int{}}
	r.byKey[k] = id
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

// Finish orders identities by issuer and subject, their grants by scope,
// provider and principal, and the rejected bundles by name, then judges
// each identity's jobs against its own history (anomalies). The report
// then depends on which bundles were added, not on the order they were
// added in, except for which of two bundles of one job counted.
func (r *Report) Finish() {
	if r.jobs == nil {
		*r = *New(r.opts)
	}
	slices.SortFunc(r.Identities, func(a, b *Identity) int {
		return cmp.Or(strings.Compare(a.Issuer, b.Issuer), strings.Compare(a.Subject, b.Subject))
	})
	r.Anomalies = 0
	for _, id := range r.Identities {
		slices.SortFunc(id.Grants, func(a, b *Grant) int {
			return cmp.Or(strings.Compare(a.Scope, b.Scope), strings.Compare(a.Provider, b.Provider), strings.Compare(a.Principal, b.Principal))
		})
		slices.SortFunc(id.history, func(a, b *job) int {
			return cmp.Or(a.started.Compare(b.started), strings.Compare(a.name, b.name), cmp.Compare(a.order, b.order))
		})
		id.Anomalies = judge(id.history, r.opts)
		r.Anomalies += len(id.Anomalies)
	}
	slices.SortFunc(r.Rejected, func(a, b Rejection) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Reason, b.Reason))
	})
}
