package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/deliver"
	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
)

// staticAWSEnv are the variables AWS SDKs resolve before the container
// credentials endpoint; a job served by the endpoint must not see them.
var staticAWSEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"}

// startEndpoint serves every deliver: endpoint scope from a loopback
// server for the rest of the Session.
func (s *Session) startEndpoint() error {
	var routes []deliver.Route
	for i, sc := range s.cfg.Scopes {
		if sc.Deliver != "endpoint" || s.grantByScope(sc.Name) == nil {
			continue // not served, or refused and optional
		}
		p, err := buildProvider(s.cfg, i, s.opts.Getenv, s.providerOptions()...)
		if err != nil {
			return err
		}
		desc := p.Describe()
		rt := deliver.Route{
			Scope: sc.Name, Provider: desc.Provider,
			Registries: sc.Registries, Username: sc.RegistryUsername, GitHosts: sc.GitHosts,
		}
		if g, ok := p.(interface {
			ServiceAccount() string
			ProjectID() string
		}); ok {
			rt.ServiceAccount, rt.Project = g.ServiceAccount(), g.ProjectID()
		}
		routes = append(routes, rt)
	}
	if len(routes) == 0 {
		return nil
	}
	dir, err := s.privateDir("endpoint")
	if err != nil {
		return err
	}
	ep, err := deliver.Start(deliver.Options{Routes: routes, Source: s.liveGrant, OnFetch: s.recordFetch, Dir: dir})
	if err != nil {
		return err
	}
	s.endpoint = ep
	s.addSecret(ep.Token())
	s.logf("credential endpoint serving %d scope(s) on %s", len(routes), ep.URL)
	return nil
}

// privateDirPrefix names the Session's private directory of delivered
// files and endpoint sockets.
const privateDirPrefix = "chaperone-creds-"

// privateDir returns a 0700 directory under the Session's private
// directory, which Stop removes.
func (s *Session) privateDir(name string) (string, error) {
	if s.st.FileDir == "" {
		dir, err := os.MkdirTemp("", privateDirPrefix+"*")
		if err != nil {
			return "", fmt.Errorf("private directory: %w", err)
		}
		s.st.FileDir = dir
	}
	dir := filepath.Join(s.st.FileDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("private directory: %w", err)
	}
	return dir, nil
}

// endpointEnv is the job's environment additions for the endpoint, and the
// names it must not inherit.
func (s *Session) endpointEnv(base []string) (add []string, drop []string) {
	if s.endpoint == nil {
		return nil, nil
	}
	add = s.endpoint.Env()
	for _, kv := range add {
		if strings.HasPrefix(kv, "AWS_CONTAINER_CREDENTIALS_FULL_URI=") {
			drop = append(drop, staticAWSEnv...)
		}
		if dir, ok := strings.CutPrefix(kv, "CHAPERONE_HELPER_PATH="); ok {
			path := dir
			for _, b := range base {
				if p, ok := strings.CutPrefix(b, "PATH="); ok && p != "" {
					path = dir + string(os.PathListSeparator) + p
				}
			}
			add = append(add, "PATH="+path)
			drop = append(drop, "PATH")
		}
	}
	return add, drop
}

// refreshWindow is how long before expiry an endpoint grant is renewed: at
// most 6 minutes (so SDKs that refresh 5 minutes early get a fresh
// credential) and at most half the credential's lifetime.
func refreshWindow(g *provider.Grant) time.Duration {
	life := g.ExpiresAt.Sub(g.IssuedAt)
	return min(6*time.Minute, life/2)
}

// liveGrant returns a scope's grant, renewed with a fresh identity token
// when it is within its refresh window. The replaced credential is revoked
// when it can be, and the renewal is recorded for the attestation.
func (s *Session) liveGrant(ctx context.Context, scope string) (*provider.Grant, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.Lock()
	gs := s.grantByScope(scope)
	s.mu.Unlock()
	if gs == nil {
		return nil, fmt.Errorf("no grant for scope %q", scope)
	}
	if err := s.saveRenewal(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	g := gs.Grant
	s.mu.Unlock()
	if g.ExpiresAt.IsZero() || time.Until(g.ExpiresAt) > refreshWindow(&g) {
		return &g, nil
	}
	idx := s.scopeIndex(scope)
	p, err := buildProvider(s.cfg, idx, s.opts.Getenv, s.providerOptions()...)
	if err != nil {
		return nil, err
	}
	fresh, err := p.Issue(ctx, s.id.forScope(s.cfg.Scopes[idx]))
	s.captureIdentity()
	if err != nil {
		msg := s.scrub(err.Error())
		s.logf("scope %s: refresh failed: %s", scope, msg)
		if time.Now().Before(g.ExpiresAt) {
			return &g, nil // still valid; try again on the next fetch
		}
		return nil, fmt.Errorf("refresh failed: %s", msg)
	}
	for _, v := range fresh.Values {
		s.addSecret(v.Secret)
	}
	// Record the renewal before serving it: a process killed after this
	// point leaves stop both credentials to settle.
	replaced := replacedGrant{Refresh: attest.Refresh{Fingerprint: g.Fingerprint, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt}}
	if g.Revocable {
		replaced.Grant = &g
	} else {
		replaced.Revocation = s.revokeGrant(ctx, gs.Scope, gs.Provider, &g) // records its expiry
	}
	s.mu.Lock()
	gs.Replaced = append(gs.Replaced, replaced)
	last := &gs.Replaced[len(gs.Replaced)-1]
	gs.Grant = *fresh
	s.unsaved = true
	s.mu.Unlock()
	if err := s.saveRenewal(); err != nil {
		return nil, err
	}
	if last.Grant != nil {
		r := s.revokeGrant(ctx, gs.Scope, gs.Provider, last.Grant)
		s.mu.Lock()
		last.Revocation, last.Grant = r, nil
		s.unsaved = true
		s.mu.Unlock()
		if err := s.saveRenewal(); err != nil {
			s.logf("scope %s: %v", scope, err) // the new credential is already recorded
		}
	}
	s.logf("scope %s: %s grant refreshed, expires %s", scope, gs.Provider, expiryText(fresh.ExpiresAt))
	return fresh, nil
}

// saveRenewal persists a renewal that is not saved yet. Until it is, the
// endpoint serves nothing: a credential stop cannot find would stay live
// and unattested if this process were killed.
func (s *Session) saveRenewal() error {
	s.mu.Lock()
	unsaved := s.unsaved
	s.mu.Unlock()
	if !unsaved || s.opts.StateDir == "" {
		return nil
	}
	if err := s.Save(); err != nil {
		s.logf("saving a renewed credential: %v", err)
		return errors.New("the renewed credential could not be saved; not serving it")
	}
	s.mu.Lock()
	s.unsaved = false
	s.mu.Unlock()
	return nil
}

func (s *Session) grantByScope(scope string) *grantState {
	for _, g := range s.st.Grants {
		if g.Scope == scope && g.Revocation == nil {
			return g
		}
	}
	return nil
}

// recordFetch appends an endpoint read to its grant's usage record.
func (s *Session) recordFetch(f deliver.Fetch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.grantByScope(f.Scope); g != nil {
		g.Fetches = append(g.Fetches, attest.Fetch{At: f.At, Protocol: f.Protocol, PID: f.PID, Executable: f.Executable})
	}
}

// warnUnrefreshable warns when a GitLab job may outlive its ID token: such
// tokens cannot be re-minted, so no grant can be renewed past their expiry.
func (s *Session) warnUnrefreshable() {
	if s.id == nil || s.id.source != "gitlab" {
		return
	}
	timeout, err := time.ParseDuration(s.opts.Getenv("CI_JOB_TIMEOUT") + "s")
	if err != nil || timeout <= 0 {
		return
	}
	for _, t := range s.id.usedTokens() {
		if !t.Expiry.IsZero() && time.Until(t.Expiry) < timeout {
			s.logf("warning: the job may run for %s but its ID token expires in %s; GitLab ID tokens cannot be re-minted, so credentials cannot be renewed after that", timeout, time.Until(t.Expiry).Round(time.Second))
			return
		}
	}
}
