// Package agent runs chaperone's lifecycle for one CI job: identity →
// grants → delivery → masked command → revoke → attest → store. Every front
// end (run, start/stop, the GitHub Action, the GitLab executor, demo)
// drives the one Session type defined here.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chaperone-ci/chaperone/agent/deliver"
	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/masking"
)

// Options configure a Session. Config is required; the rest default to the
// process's own environment and standard streams.
type Options struct {
	Config   *Config
	StateDir string              // where Save persists the session; "" keeps it in memory
	Getenv   func(string) string // default os.Getenv
	Environ  []string            // base environment of the job; default os.Environ()
	Log      io.Writer           // agent messages (never secrets); default os.Stderr
	// HTTPClient is used for the OIDC endpoint and every provider; each
	// exchange is bounded by the config's timeouts.attempt.
	HTTPClient *http.Client
	// RetryDeadline bounds one request with its retries; default the
	// config's timeouts.request.
	RetryDeadline time.Duration
	// Signer overrides attest.signer.
	Signer sign.Signer
	// Policy, when set, is the platform owner's: a scope it does not allow
	// for the job's identity is refused (not issued; the refusal is
	// attested).
	Policy *Policy
	// JobStatus is the CI's own verdict on the job (GitLab's
	// CI_JOB_STATUS, GitHub's job.status: success, failed or failure,
	// canceled or cancelled), which decides the attested outcome of a
	// session that ran none of the job's steps itself. Default: the
	// CI_JOB_STATUS variable.
	JobStatus string
	// Version is recorded in the attestation.
	Version, Commit string
}

// Session is one job's lifecycle. Its methods are meant to be called in
// order: Start, then Run any number of times, then Stop. Start and Stop may
// run in different processes, joined by Save and Resume.
type Session struct {
	opts     Options
	cfg      *Config
	id       *identity
	masks    *masking.Set
	st       *state
	endpoint *deliver.Endpoint // serves deliver: endpoint scopes; nil if none
	mu       sync.Mutex        // guards st and unsaved
	// unsaved: a renewal changed st and is not yet in the state file.
	unsaved bool
	logMu   sync.Mutex // serialises messages (revocations run concurrently)
	// refreshMu serialises grant renewals so concurrent endpoint fetches
	// renew a grant once.
	refreshMu sync.Mutex
}

// NewSession prepares a Session; nothing is issued until Start.
func NewSession(opts Options) (*Session, error) {
	if opts.Config == nil {
		return nil, errors.New("agent: Options.Config is required")
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Session{opts: opts, cfg: opts.Config, masks: newMaskSet(opts.Config.Mask, opts.Getenv)}
	s.st = &state{Version: stateVersion, Config: opts.Config.raw, ConfigSource: opts.Config.source}
	// The CI's own credentials are secrets too.
	for _, name := range []string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "CI_JOB_TOKEN", "ACTIONS_RUNTIME_TOKEN"} {
		if v := opts.Getenv(name); v != "" {
			s.addSecret(v)
		}
	}
	return s, nil
}

// newMaskSet builds the masker the config asks for. Its token defaults to
// the CI's own: "[MASKED]" on GitLab, "***" elsewhere.
func newMaskSet(c MaskConfig, getenv func(string) string) *masking.Set {
	o := c.options()
	if o.Mask == "" && getenv("GITLAB_CI") == "true" {
		o.Mask = "[MASKED]"
	}
	return masking.NewSet(o)
}

// addSecret registers a value with the masker and remembers it so a later
// process (stop, mask) masks it too.
func (s *Session) addSecret(v string) {
	if v == "" {
		return
	}
	s.masks.Add(v)
	s.mu.Lock()
	s.st.Secrets = append(s.st.Secrets, v)
	s.mu.Unlock()
}

// Secrets returns every value the Session masks: issued credentials, the
// OIDC tokens it obtained, and the CI's own tokens.
func (s *Session) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.st.Secrets...)
}

// Masks is the Session's secret set, for wrapping output streams.
func (s *Session) Masks() *masking.Set { return s.masks }

func (s *Session) providerOptions() []provider.Option {
	return []provider.Option{provider.WithHTTPClient(s.httpClient()), provider.WithRetryDeadline(s.requestDeadline())}
}

// httpClient is the client for every outbound request, each exchange
// bounded by timeouts.attempt.
func (s *Session) httpClient() *http.Client {
	return boundedClient(s.opts.HTTPClient, s.cfg.Timeouts.withDefaults().Attempt)
}

// requestDeadline bounds one request with its retries.
func (s *Session) requestDeadline() time.Duration {
	if s.opts.RetryDeadline > 0 {
		return s.opts.RetryDeadline
	}
	return s.cfg.Timeouts.withDefaults().Request
}

func (s *Session) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.opts.Log, "chaperone: "+format+"\n", args...)
}

// Start obtains the identity, issues a grant for every declared scope and
// prepares its delivery. On failure everything already issued is revoked
// before the error returns; Stop may still be called to attest the failure.
func (s *Session) Start(ctx context.Context) error {
	s.st.StartedAt = time.Now().UTC()
	// fail records why the start failed (it is attested) and revokes what
	// was already issued.
	fail := func(err error) error {
		s.st.Failure = err.Error()
		s.revokeAll(ctx)
		return &AgentError{Err: err}
	}
	id, err := s.identity()
	if err != nil {
		return fail(err)
	}
	s.st.Platform = id.platform
	s.st.Job = jobInfo(id.platform, s.opts.Getenv)
	// Build the signer before issuing anything, so a bad key or an
	// unreachable Fulcio fails the job before a credential exists.
	if s.opts.Signer == nil && s.cfg.Attest.Signer != "none" {
		if _, err := s.signer(ctx); err != nil {
			return fail(fmt.Errorf("attest.signer: %s", s.scrub(err.Error())))
		}
	}
	// The owner's policy is asked about every scope before any is issued:
	// a refused scope that is not optional fails the run with nothing
	// issued.
	providers := make([]provider.Provider, len(s.cfg.Scopes))
	skip := make([]bool, len(s.cfg.Scopes))
	var refusals []string
	for i, sc := range s.cfg.Scopes {
		p, err := buildProvider(s.cfg, i, s.opts.Getenv, s.providerOptions()...)
		if err != nil {
			return fail(err)
		}
		providers[i] = p
		if s.opts.Policy == nil {
			continue
		}
		v, err := s.policyVerdict(ctx, id, sc, p.Describe())
		s.captureIdentity()
		if err != nil {
			return fail(err)
		}
		if v.Allowed {
			continue
		}
		s.st.Refused = append(s.st.Refused, attest.Refusal{Scope: sc.Name, Reason: v.Reason})
		skip[i] = true
		if sc.Optional {
			s.logf("scope %s refused (optional: the job runs without it): %s", sc.Name, v.Reason)
			continue
		}
		s.logf("scope %s refused: %s", sc.Name, v.Reason)
		refusals = append(refusals, fmt.Sprintf("scope %q: %s", sc.Name, v.Reason))
	}
	if len(refusals) > 0 {
		return fail(fmt.Errorf("the owner's policy refuses %s (mark a scope optional: true to run without it)", strings.Join(refusals, "; ")))
	}
	for i, sc := range s.cfg.Scopes {
		if skip[i] {
			continue
		}
		p := providers[i]
		desc := p.Describe()
		if cs, ok := p.(clientSecreter); ok {
			if secret, err := cs.ClientSecret(); err == nil {
				s.addSecret(secret)
			}
		}
		g, err := p.Issue(ctx, id.forScope(sc))
		s.captureIdentity()
		if err != nil {
			return fail(fmt.Errorf("scope %q (%s): %s", sc.Name, desc.Provider, s.scrub(err.Error())))
		}
		gs := &grantState{Scope: sc.Name, Provider: desc.Provider, Delivery: sc.Deliver, Grant: *g}
		if pv, ok := p.(publicValuer); ok {
			gs.Public = pv.PublicValues()
		}
		s.st.Grants = append(s.st.Grants, gs) // from here on, fail revokes it
		for _, v := range g.Values {
			s.addSecret(v.Secret)
			// Names become variables and file names: never let one carry
			// an '=' or a path.
			if err := provider.CheckEnvName("value name", v.Name); err != nil {
				return fail(fmt.Errorf("scope %q (%s): %w", sc.Name, desc.Provider, err))
			}
		}
		if err := s.deliver(gs); err != nil {
			return fail(err)
		}
		s.logf("scope %s: %s grant for %s issued, expires %s", sc.Name, desc.Provider, g.Principal, expiryText(g.ExpiresAt))
	}
	if err := s.startEndpoint(); err != nil {
		return fail(err)
	}
	s.warnUnrefreshable()
	s.st.Job = jobInfoFromClaims(s.st.Job, s.st.Identity.Claims)
	return nil
}

// Begin is Start as the front ends need it: a failed start is stopped too
// (its failure attested, whatever was issued revoked), and with a StateDir
// the started session is saved for the processes that Resume it.
func (s *Session) Begin(ctx context.Context) error {
	if err := s.checkNoOpenSession(); err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		_, _ = s.Stop(ctx)
		return err
	}
	if s.opts.StateDir == "" {
		return nil
	}
	if err := s.Save(); err != nil {
		_, _ = s.Stop(ctx)
		return &AgentError{Err: err}
	}
	return nil
}

func expiryText(t time.Time) string {
	if t.IsZero() {
		return "with its token"
	}
	return t.Format(time.RFC3339)
}

// captureIdentity refreshes the recorded identity from the tokens used.
func (s *Session) captureIdentity() {
	if s.id == nil {
		return
	}
	s.st.Identity = identityRecord(s.id.usedTokens())
}

// Environ is the environment the job's commands run with: the base
// environment without the OIDC request credentials (unless the config opts
// in with identity.expose-request-token) and without the variables
// chaperone consumes (the job's ID token variables, a client secret's
// variable; unless keep-env lists them), plus every delivered credential.
func (s *Session) Environ() []string {
	drop := map[string]bool{}
	if !s.cfg.Identity.ExposeRequestToken {
		drop["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = true
		drop["ACTIONS_ID_TOKEN_REQUEST_URL"] = true
	}
	for _, name := range s.cfg.droppedEnv() {
		drop[name] = true
	}
	add := s.DeliveredEnv()
	epAdd, epDrop := s.endpointEnv(s.opts.Environ)
	add = append(add, epAdd...)
	for _, name := range epDrop {
		drop[name] = true
	}
	for _, kv := range add {
		drop[kv[:strings.IndexByte(kv, '=')]] = true
	}
	out := make([]string, 0, len(s.opts.Environ)+len(add))
	for _, kv := range s.opts.Environ {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			out = append(out, kv)
		}
	}
	return append(out, add...)
}

// scrub masks every known secret in a message bound for a log, an error
// or the attestation.
func (s *Session) scrub(msg string) string {
	return s.masks.MaskString(msg)
}

// AgentError is a failure of chaperone itself (identity, issue, revoke,
// attest), as opposed to the wrapped command's; `run` exits 125 on it.
type AgentError struct{ Err error }

func (e *AgentError) Error() string { return e.Err.Error() }
func (e *AgentError) Unwrap() error { return e.Err }
