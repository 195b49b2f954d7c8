package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
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

// revokeAll settles every grant that has no outcome yet.
func (s *Session) revokeAll(ctx context.Context) {
	for _, g := range s.st.Grants {
		if g.Revocation != nil {
			continue
		}
		g.Revocation = s.revokeGrant(ctx, g.Scope, g.Provider, &g.Grant)
	}
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
		Masking:   attest.Masking{Secrets: s.masks.Len(), Redactions: st.Redactions},
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
			Fetches: g.Fetches, Refreshes: g.Replaced,
		}
		if g.Revocation != nil {
			ag.Revocation = *g.Revocation
			failed = failed || g.Revocation.Outcome == attest.RevocationFailed
		}
		p.Grants = append(p.Grants, ag)
	}
	p.Outcome = "success"
	for _, step := range p.Steps {
		if step.ExitCode != 0 {
			p.Outcome = "failure"
		}
	}
	if failed {
		p.Outcome = "agent-error"
	}
	return p
}

// attest signs the predicate and writes the bundle; it returns the path.
func (s *Session) attest(ctx context.Context, pred *attest.JobPredicate) (string, error) {
	signer := s.opts.Signer
	spec := s.cfg.Attest.Signer
	if signer == nil {
		if spec == "none" {
			s.logf("attest.signer is none: no attestation written")
			return "", nil
		}
		path, ok := strings.CutPrefix(spec, "key:")
		if !ok {
			return "", fmt.Errorf("signer %q is not supported by this version", spec)
		}
		password := s.opts.Getenv("CHAPERONE_KEY_PASSWORD")
		if password == "" {
			password = s.opts.Getenv("COSIGN_PASSWORD")
		}
		var err error
		signer, err = attest.LoadKeySigner(path, []byte(password))
		if err != nil {
			return "", err
		}
	}
	subjects := []attest.Subject{attest.JobSubject(pred.Job.RunURI)}
	var patterns []string
	for _, sc := range s.cfg.Attest.Subjects {
		patterns = append(patterns, sc.Path)
	}
	if len(patterns) > 0 {
		files, err := attest.FileSubjects(patterns...)
		if err != nil {
			return "", err
		}
		subjects = append(subjects, files...)
	}
	stmt, err := attest.NewStatement(attest.PredicateTypeJob, subjects, pred)
	if err != nil {
		return "", err
	}
	bundle, err := attest.Sign(ctx, stmt, signer, attest.SignOptions{})
	if err != nil {
		return "", err
	}
	out := s.cfg.Attest.Output
	if err := attest.WriteBundle(out, bundle); err != nil {
		return "", err
	}
	return out, nil
}
