// Package providertest holds the assertions that the tests of chaperone's
// providers share when they run a provider against a devstack: that a
// refusal fails fast with the server's message and quotes no token, and
// that server errors are retried while a refusal is not.
//
// It is test support: only _test.go files import it.
package providertest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

// AssertRefused calls p.Issue with tokens and requires a refusal. p must
// send its requests through counter (build it with
// provider.WithHTTPClient(counter.Client())).
//
// It ends the test with t.Fatal unless Issue returns an error whose text
// contains want. It then reports with t.Error if the error's text contains
// tokens.Last() (so also when tokens handed out no token at all) or any
// other token tokens handed out, if it spans lines, or if Issue sent fewer
// than one or more than maxRequests requests through counter: a 4xx must
// fail fast, not be retried. It returns the error, never nil, for checks
// of the caller's own.
func AssertRefused(t testing.TB, p provider.Provider, tokens *devstacktest.TokenSource, counter *devstacktest.Counter, want string, maxRequests int) error {
	t.Helper()
	before := counter.Count()
	_, err := p.Issue(context.Background(), tokens)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	msg := err.Error()
	leaks := strings.Contains(msg, tokens.Last())
	for _, tok := range tokens.Issued() {
		leaks = leaks || strings.Contains(msg, tok)
	}
	if leaks || strings.Contains(msg, "\n") {
		t.Errorf("error leaks the OIDC token or spans lines: %v", err)
	}
	if n := counter.Count() - before; n < 1 || n > maxRequests {
		t.Errorf("refusal took %d requests, want 1 to %d: 4xx must fail fast", n, maxRequests)
	}
	return err
}

// AssertIssued calls p.Issue with job tokens minted by st with the
// default claims, and ends the test with t.Fatal unless it succeeds after
// sending exactly requests requests through counter. Tests use it after
// st.FailNext to prove that server errors were retried. It returns the
// grant.
func AssertIssued(t testing.TB, p provider.Provider, st *devstack.Stack, counter *devstacktest.Counter, requests int) *provider.Grant {
	t.Helper()
	before := counter.Count()
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if n := counter.Count() - before; err != nil || n != requests {
		t.Fatalf("Issue after server errors: %v (%d requests, want %d)", err, n, requests)
	}
	return g
}

// AssertFailsFast injects fault at st's service, calls p.Issue with job
// tokens minted by st with the default claims, and reports with t.Error
// unless Issue returns an error whose text contains want after sending
// exactly requests requests through counter: the fault is not retried.
// It ends the test with t.Fatal if the fault cannot be injected.
func AssertFailsFast(t testing.TB, p provider.Provider, st *devstack.Stack, counter *devstacktest.Counter, service string, fault devstack.Fault, want string, requests int) {
	t.Helper()
	if err := st.InjectFaults(service, fault); err != nil {
		t.Fatal(err)
	}
	before := counter.Count()
	_, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if n := counter.Count() - before; err == nil || !strings.Contains(err.Error(), want) || n != requests {
		t.Errorf("%d: err = %v after %d requests, want %q after %d", fault.Status, err, n, want, requests)
	}
}

// AssertRetriesThenFailsFast checks a provider that sends one request per
// Issue to service at st. It makes the next two requests to service fail
// with 500 and 503, builds the provider with newProvider and a client that
// counts requests, and requires (AssertIssued) that Issue succeeds in
// exactly 3 requests. Then it injects a 403 with the message refusal and
// requires (AssertFailsFast) that Issue fails in exactly 1 request with an
// error containing want. newProvider should end the test if it cannot
// build the provider. It returns the provider.
func AssertRetriesThenFailsFast(t testing.TB, st *devstack.Stack, service string, newProvider func(*http.Client) provider.Provider, refusal, want string) provider.Provider {
	t.Helper()
	if err := st.FailNext(service, 500, 503); err != nil {
		t.Fatal(err)
	}
	counter := &devstacktest.Counter{}
	p := newProvider(counter.Client())
	AssertIssued(t, p, st, counter, 3)
	AssertFailsFast(t, p, st, counter, service, devstack.Fault{Status: 403, Message: refusal}, want, 1)
	return p
}

// A Refusal is an exchange the issuer must refuse: the provider's config
// changed by Change (when set) presenting a job token made from Token.
// (An alias of an unnamed struct, so tables can list its fields in order.)
type Refusal[C any] = struct {
	Name   string
	Change func(*C)
	Token  devstack.TokenRequest
	Want   string
}

// AssertRefusals runs each case in a subtest: a provider built by
// newProvider from config() changed by the case, with a counting client,
// must be refused with prefix+Want in at most maxRequests requests
// (AssertRefused). It returns the refusals' errors, for checks of the
// caller's own.
func AssertRefusals[C any, P provider.Provider](t *testing.T, st *devstack.Stack, config func() C, newProvider func(C, ...provider.Option) (P, error), prefix string, maxRequests int, cases []Refusal[C]) []error {
	t.Helper()
	var errs []error
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := config()
			if tc.Change != nil {
				tc.Change(&cfg)
			}
			counter := &devstacktest.Counter{}
			p, err := newProvider(cfg, provider.WithHTTPClient(counter.Client()))
			if err != nil {
				t.Fatal(err)
			}
			errs = append(errs, AssertRefused(t, p, devstacktest.Tokens(st, tc.Token), counter, prefix+tc.Want, maxRequests))
		})
	}
	return errs
}
