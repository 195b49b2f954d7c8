package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// TestIssueRetriesServerErrors: the OIDC endpoint and Vault each answer
// 500 then 503 before succeeding; the session starts anyway.
func TestIssueRetriesServerErrors(t *testing.T) {
	st := stack(t, devstack.Options{})
	for _, svc := range []string{devstack.ServiceIssuer, devstack.ServiceVault, devstack.ServiceAWS} {
		if err := st.FailNext(svc, 500, 503); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := newTestSession(t, st)
	s.opts.RetryDeadline = 10 * time.Second
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start after transient errors: %v", err)
	}
	if _, err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestIssueRefusalFailsFast: a 403 from the exchange ends Start, carrying
// the server's reason. Only one answer is faulty, so a retry would have
// succeeded: the error itself proves the refusal was not retried.
func TestIssueRefusalFailsFast(t *testing.T) {
	st := stack(t, devstack.Options{})
	if err := st.InjectFaults(devstack.ServiceGitHub, devstack.Fault{Status: 403, Message: "trust policy ci does not allow this workflow"}); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestSession(t, st)
	s.opts.RetryDeadline = 30 * time.Second
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "trust policy ci does not allow this workflow") {
		t.Fatalf("Start = %v, want the 403 with the server's message", err)
	}
}

// TestRevokeKeepsFailing: every revoke-self answers 500; after its retry
// budget the grant is attested as failed and Stop reports it.
func TestRevokeKeepsFailing(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	statuses := make([]int, 100)
	for i := range statuses {
		statuses[i] = 500
	}
	if err := st.FailNext(devstack.ServiceVault, statuses...); err != nil {
		t.Fatal(err)
	}
	sum, err := s.Stop(context.Background())
	var ae *AgentError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), `scope "db": revocation failed`) {
		t.Fatalf("Stop = %v, want the db revocation failure", err)
	}
	pred := verifyBundle(t, st, sum)
	for _, g := range pred.Grants {
		want := attest.RevocationRevoked
		if g.Scope == "db" {
			want = attest.RevocationFailed
		} else if g.Provider == "aws" || g.Provider == "gcp" || g.Provider == "azure" {
			want = attest.RevocationExpiry
		}
		if g.Revocation.Outcome != want {
			t.Errorf("grant %s: %s, want %s", g.Scope, g.Revocation.Outcome, want)
		}
	}
	if pred.Outcome != "agent-error" {
		t.Errorf("outcome %q", pred.Outcome)
	}
}

func TestGitLabTimeoutWarning(t *testing.T) {
	st := stack(t, devstack.Options{Platform: devstack.PlatformGitLab, TokenTTL: 10 * time.Minute})
	s, log := newTestSession(t, st)
	env := envMap(append(st.Env(), "CI_JOB_TIMEOUT=3600"))
	s.opts.Getenv = env
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	if !strings.Contains(log.String(), "warning: the job may run for 1h0m0s but its ID token expires in") {
		t.Errorf("no timeout warning in:\n%s", log.String())
	}
}

// TestStopAfterCancellation: the job's context is cancelled (Ctrl-C, a
// cancelled CI job) before Stop; revocation still happens.
func TestStopAfterCancellation(t *testing.T) {
	st := stack(t, devstack.Options{})
	s, _ := newTestSession(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop after cancellation: %v", err)
	}
	for _, c := range st.Credentials() {
		if (c.Provider == "vault" || c.Provider == "github" || c.Provider == "token-exchange") && !c.Revoked {
			t.Errorf("%s credential not revoked after a cancelled job", c.Provider)
		}
	}
}
