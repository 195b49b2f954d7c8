package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/attest/sign"
)

// Summary is what Stop reports: the identity, every grant's outcome and
// where the attestation went.
type Summary struct {
	Platform   string
	Job        attest.Job
	Identity   attest.Identity
	Grants     []attest.Grant
	Steps      []attest.Step
	Outcome    string
	BundlePath string         // "" when attest.signer is none
	JobSubject attest.Subject // the subject every attestation carries
	Redactions int
}

// Stop revokes every grant, removes delivered files, signs the attestation,
// writes it, and deletes the persisted state. It returns an *AgentError
// when a revocation failed or the attestation could not be written; the
// Summary is returned either way.
func (s *Session) Stop(ctx context.Context) (*Summary, error) {
	// Cleanup outlives the job's cancellation (Ctrl-C, a cancelled CI
	// job): credentials must still be revoked, within a bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeouts.withDefaults().Cleanup)
	defer cancel()
	if s.endpoint != nil {
		_ = s.endpoint.Close() // stop serving before revoking
	}
	s.revokeAll(ctx)
	var errs []error
	if err := s.undeliver(); err != nil {
		errs = append(errs, err)
	}
	pred := s.predicate()
	sum := &Summary{
		Platform: pred.Platform, Job: pred.Job, Identity: pred.Identity, Grants: pred.Grants,
		Steps: pred.Steps, Outcome: pred.Outcome, Redactions: pred.Masking.Redactions,
		JobSubject: attest.JobSubject(pred.Job.RunURI),
	}
	for _, g := range pred.Grants {
		if g.Revocation.Outcome == attest.RevocationFailed {
			errs = append(errs, fmt.Errorf("scope %q: revocation failed: %s", g.Scope, g.Revocation.Error))
		}
	}
	path, err := s.attest(ctx, pred)
	if err != nil {
		errs = append(errs, fmt.Errorf("attestation: %s", s.scrub(err.Error())))
	}
	sum.BundlePath = path
	if err := s.removeState(); err != nil {
		errs = append(errs, fmt.Errorf("removing state: %w", err))
	}
	if len(errs) > 0 {
		return sum, &AgentError{Err: errors.Join(errs...)}
	}
	return sum, nil
}

// revokeAll settles every grant that has no outcome yet, and every
// replaced credential whose revocation a crash interrupted. Revocations run
// concurrently, each bounded by the request deadline, so one issuer that
// never answers costs only its own grant.
func (s *Session) revokeAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.requestDeadline())
	defer cancel()
	var wg sync.WaitGroup
	settle := func(scope, providerName string, g *provider.Grant, out **attest.Revocation) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.revokeGrant(ctx, scope, providerName, g)
			s.mu.Lock()
			*out = r
			s.mu.Unlock()
		}()
	}
	s.mu.Lock()
	for _, g := range s.st.Grants {
		if g.Revocation == nil {
			settle(g.Scope, g.Provider, &g.Grant, &g.Revocation)
		}
		for i := range g.Replaced {
			if r := &g.Replaced[i]; r.Revocation == nil && r.Grant != nil {
				settle(g.Scope, g.Provider, r.Grant, &r.Revocation)
			}
		}
	}
	s.mu.Unlock()
	wg.Wait()
}

// revokeGrant revokes one credential of a scope and says what happened.
func (s *Session) revokeGrant(ctx context.Context, scope, providerName string, g *provider.Grant) *attest.Revocation {
	expiry := func() *attest.Revocation {
		r := &attest.Revocation{Outcome: attest.RevocationExpiry}
		if !g.ExpiresAt.IsZero() {
			t := g.ExpiresAt
			r.ExpiresAt = &t
		}
		return r
	}
	if !g.Revocable {
		return expiry()
	}
	idx := s.scopeIndex(scope)
	if idx < 0 {
		return &attest.Revocation{Outcome: attest.RevocationFailed, Error: "scope no longer in config"}
	}
	p, err := buildProvider(s.cfg, idx, s.opts.Getenv, s.providerOptions()...)
	if err == nil {
		err = p.Revoke(ctx, g)
	}
	switch {
	case err == nil:
		now := time.Now().UTC()
		s.logf("scope %s: %s grant revoked", scope, providerName)
		return &attest.Revocation{Outcome: attest.RevocationRevoked, At: &now}
	case errors.Is(err, provider.ErrNotRevocable):
		return expiry()
	default:
		msg := s.scrub(err.Error())
		s.logf("scope %s: revocation failed: %s", scope, msg)
		r := expiry()
		r.Outcome, r.Error = attest.RevocationFailed, msg
		return r
	}
}

func (s *Session) scopeIndex(name string) int {
	for i, sc := range s.cfg.Scopes {
		if sc.Name == name {
			return i
		}
	}
	return -1
}

// predicate assembles the job record. It holds fingerprints, never values.
func (s *Session) predicate() *attest.JobPredicate {
	st := s.st
	p := &attest.JobPredicate{
		Agent:     attest.Agent{Name: "chaperone", Version: s.opts.Version, Commit: s.opts.Commit},
		Platform:  st.Platform,
		Job:       st.Job,
		Identity:  st.Identity,
		Grants:    []attest.Grant{},
		Steps:     st.Steps,
		Refused:   st.Refused,
		StartedAt: st.StartedAt,
		EndedAt:   time.Now().UTC(),
		Masking:   attest.Masking{Secrets: s.masks.Len(), Redactions: st.Redactions, DetectorHits: s.masks.Hits()},
	}
	if p.Steps == nil {
		p.Steps = []attest.Step{}
	}
	if p.Refused == nil {
		p.Refused = []attest.Refusal{}
	}
	if p.Platform == "" {
		p.Platform = PlatformLocal
	}
	if p.Job.RunURI == "" {
		p.Job.RunURI = localRunURI(s.opts.Getenv)
		st.Job.RunURI = p.Job.RunURI
	}
	failed := st.Failure != ""
	for _, g := range st.Grants {
		ag := attest.Grant{
			Scope: g.Scope, Provider: g.Provider, Principal: g.Grant.Principal,
			SessionName: g.Grant.SessionName, Fingerprint: g.Grant.Fingerprint,
			IssuedAt: g.Grant.IssuedAt, ExpiresAt: g.Grant.ExpiresAt, Delivery: g.Delivery,
			Fetches: g.Fetches, Restrictions: attestedRestrictions(g.Grant.Restrictions),
		}
		for _, r := range g.Replaced {
			ag.Refreshes = append(ag.Refreshes, r.Refresh)
			failed = failed || (r.Revocation != nil && r.Revocation.Outcome == attest.RevocationFailed)
		}
		if g.Revocation != nil {
			ag.Revocation = *g.Revocation
			failed = failed || g.Revocation.Outcome == attest.RevocationFailed
		}
		p.Grants = append(p.Grants, ag)
	}
	p.Steps = finishSteps(p.Steps, p.EndedAt)
	p.Outcome = jobOutcome(p.Steps, failed, st.Canceled, cmp.Or(s.opts.JobStatus, s.opts.Getenv("CI_JOB_STATUS")))
	return p
}

// finishSteps marks the steps no process saw end (a killed `run`, a
// killed executor stage) as interrupted at now.
func finishSteps(steps []attest.Step, now time.Time) []attest.Step {
	out := make([]attest.Step, len(steps))
	for i, step := range steps {
		if step.EndedAt.IsZero() {
			step.Interrupted, step.ExitCode, step.EndedAt = true, -1, now
		}
		out[i] = step
	}
	return out
}

// jobOutcome says how the job ended, claiming success only on evidence:
// every step seen to exit 0, or, with no step run under the agent (start
// and stop, the GitHub Action), the CI's own job status (GitLab's
// CI_JOB_STATUS in after_script, GitHub's job.status).
func jobOutcome(steps []attest.Step, agentFailed, canceled bool, ciStatus string) string {
	switch {
	case agentFailed:
		return attest.OutcomeAgentError
	case canceled:
		return attest.OutcomeCanceled
	}
	outcome := attest.OutcomeSuccess
	for _, step := range steps {
		switch {
		case step.Interrupted:
			return attest.OutcomeInterrupted
		// GitLab ignores a failing after_script: so does the outcome.
		case step.ExitCode != 0 && step.Stage != "after_script":
			outcome = attest.OutcomeFailure
		}
	}
	if len(steps) > 0 {
		return outcome
	}
	switch ciStatus {
	case "success":
		return attest.OutcomeSuccess
	case "failed", "failure":
		return attest.OutcomeFailure
	case "canceled", "cancelled":
		return attest.OutcomeCanceled
	}
	return attest.OutcomeUnknown
}

// attest signs the predicate, writes the bundle (and the trusted root when
// asked), stores it in a registry when attest.oci is set, and returns the
// bundle's path.
func (s *Session) attest(ctx context.Context, pred *attest.JobPredicate) (string, error) {
	if s.opts.Signer == nil && s.cfg.Attest.Signer == "none" {
		s.logf("attest.signer is none: no attestation written")
		return "", nil
	}
	signer, err := s.signer(ctx)
	if err != nil {
		return "", err
	}
	subjects, images, err := s.subjects(ctx, pred.Job.RunURI)
	if err != nil {
		return "", err
	}
	stmt, err := attest.NewStatement(attest.PredicateTypeJob, subjects, pred)
	if err != nil {
		return "", err
	}
	bundle, err := signer.SignStatement(ctx, stmt)
	if err != nil {
		return "", err
	}
	out := s.cfg.Attest.Output
	if err := attest.WriteBundle(out, bundle); err != nil {
		return "", err
	}
	if path := s.cfg.Attest.TrustedRootOutput; path != "" {
		if root := signer.TrustedRoot(); root != nil {
			if err := attest.WriteBundle(path, root); err != nil {
				return out, fmt.Errorf("trusted root: %w", err)
			}
		}
	}
	if err := s.storeOCI(ctx, bundle, pred.Job.RunURI, images); err != nil {
		return out, err
	}
	return out, nil
}

// storeOCI stores the bundle in registries as attest.oci says: referrers
// attaches it to every image subject in the image's own repository;
// REGISTRY/REPO stores it there for every image subject and for the job
// subject.
func (s *Session) storeOCI(ctx context.Context, bundle []byte, runURI string, images []string) error {
	var opts []oci.Option
	switch s.cfg.Attest.OCI {
	case "":
		return nil
	case "referrers":
	default:
		opts = append(opts, oci.WithRepository(s.cfg.Attest.OCI))
	}
	for _, img := range images {
		ref, err := oci.Attach(ctx, bundle, img, attest.PredicateTypeJob, opts...)
		if err != nil {
			return fmt.Errorf("attaching to %s: %w", img, err)
		}
		s.logf("attestation attached to %s as %s", img, ref)
	}
	if len(opts) > 0 {
		ref, err := oci.AttachJob(ctx, bundle, runURI, attest.PredicateTypeJob, opts...)
		if err != nil {
			return fmt.Errorf("storing in %s: %w", s.cfg.Attest.OCI, err)
		}
		s.logf("attestation stored for the job subject %s as %s", attest.JobSubjectDigest(runURI), ref)
	}
	return nil
}

// signer builds the configured signer (or returns Options.Signer). Keyless
// signers get the job's OIDC token for the audience Fulcio wants.
func (s *Session) signer(ctx context.Context) (sign.Signer, error) {
	if s.opts.Signer != nil {
		return s.opts.Signer, nil
	}
	a := s.cfg.Attest
	return sign.NewSigner(ctx, a.Signer, sign.Options{
		Getenv:    s.opts.Getenv,
		IDToken:   s.sigstoreToken,
		FulcioURL: a.FulcioURL, TSAURL: a.TSAURL, RekorURL: a.RekorURL,
		HTTPClient: s.opts.HTTPClient, // attest bounds its own exchanges
	})
}

// sigstoreToken is the job's OIDC token for keyless signing: minted on
// GitHub, read from attest.id-token-var (default SIGSTORE_ID_TOKEN, as
// cosign reads it) elsewhere.
func (s *Session) sigstoreToken(ctx context.Context, audience string) (string, error) {
	id, err := s.identity()
	if err != nil {
		return "", err
	}
	return id.forScope(Scope{Name: "attest", IDTokenVar: envOr(s.cfg.Attest.IDTokenVar, "SIGSTORE_ID_TOKEN")}).Token(ctx, audience)
}

// identity returns the Session's identity, creating it in a process that
// resumed a started Session.
func (s *Session) identity() (*identity, error) {
	if s.id != nil {
		return s.id, nil
	}
	id, err := newIdentity(s.cfg.Identity, s.opts.Getenv, s.httpClient(), s.requestDeadline())
	if err != nil {
		return nil, err
	}
	id.onNew = s.addSecret
	s.id = id
	return id, nil
}

// subjects lists the job subject, every declared file, and every declared
// image resolved to its digest; images are also returned as repo@digest
// for OCI attachment.
func (s *Session) subjects(ctx context.Context, runURI string) ([]attest.Subject, []string, error) {
	subjects := []attest.Subject{attest.JobSubject(runURI)}
	var patterns, images []string
	for _, sc := range s.cfg.Attest.Subjects {
		if sc.Path != "" {
			patterns = append(patterns, sc.Path)
			continue
		}
		sub, err := oci.Resolve(ctx, sc.Image)
		if err != nil {
			return nil, nil, err
		}
		subjects = append(subjects, sub)
		images = append(images, sub.Name+"@sha256:"+sub.Digest["sha256"])
	}
	if len(patterns) > 0 {
		files, err := attest.FileSubjects(patterns...)
		if err != nil {
			return nil, nil, err
		}
		subjects = append(subjects, files...)
	}
	return subjects, images, nil
}
