// Package devstacktest holds the scaffolding that tests of chaperone's
// clients share when they run against a devstack: starting a Stack for one
// test, handing a client job tokens minted by the Stack, counting the
// requests a client sends, and asking a stand-in whether it accepts a
// bearer token.
//
// Like devstack itself, this package is the far side of the wire: it
// imports devstack and the standard library only, never the agent or a
// provider. Its TokenSource meets the agent's provider.TokenSource
// interface by its method set alone.
package devstacktest

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// Start starts a Stack with opts for the test t and registers its Close
// with t.Cleanup, so the stand-ins stop when t and its subtests are done
// (Close's error is ignored). If the Stack does not start, Start ends the
// test with t.Fatal and does not return.
func Start(t testing.TB, opts devstack.Options) *devstack.Stack {
	t.Helper()
	st, err := devstack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TokenSource hands out job tokens minted by a Stack, as the CI platform's
// token endpoint would, and records what it was asked and what it gave.
// It satisfies the agent's provider.TokenSource. Make one with Tokens; it
// is safe for concurrent use.
type TokenSource struct {
	st  *devstack.Stack
	req devstack.TokenRequest

	mu     sync.Mutex
	asked  []string
	issued []string
}

// Tokens returns a TokenSource that mints every token from the template
// req with st.MintTokenWith. A template with an empty Audience takes the
// audience each Token call asks for; one with an Audience keeps it (a token
// for the wrong audience, for tests of refusals). The zero TokenRequest
// gives the tokens st.MintToken("", audience) would: the stack's platform,
// its default claims, issued now. To mint for a platform other than the
// stack's, set req.Platform.
func Tokens(st *devstack.Stack, req devstack.TokenRequest) *TokenSource {
	return &TokenSource{st: st, req: req}
}

// Token mints a token for audience from the template (see Tokens). It
// records audience, and on success the token, before it returns. The
// context is not consulted: minting happens in-process and at once.
func (s *TokenSource) Token(_ context.Context, audience string) (string, error) {
	req := s.req
	if req.Audience == "" {
		req.Audience = audience
	}
	token, err := s.st.MintTokenWith(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, audience)
	if err == nil {
		s.issued = append(s.issued, token)
	}
	return token, err
}

// Asked returns the audiences Token was called with, in call order,
// whether or not the mint succeeded. The slice is a copy.
func (s *TokenSource) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// Issued returns the tokens Token handed out, in order; failed mints add
// nothing. The slice is a copy. Tests use it to prove that no error or
// output quotes a token.
func (s *TokenSource) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Last returns the most recent token Token handed out, or "" if it has
// handed out none. Note that every string contains "": a check that an
// error does not contain Last() also fails when no token was minted.
func (s *TokenSource) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.issued) == 0 {
		return ""
	}
	return s.issued[len(s.issued)-1]
}

// Counter is an http.RoundTripper that counts the requests it is given and
// sends each with http.DefaultTransport, so a test can tell how many
// attempts a client made (retries included). The zero value is ready to
// use and it is safe for concurrent use.
type Counter struct{ n atomic.Int64 }

// RoundTrip counts r, then sends it with http.DefaultTransport.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// Count returns how many requests have been given to RoundTrip so far,
// including those that failed.
func (c *Counter) Count() int { return int(c.n.Load()) }

// Client returns a new http.Client that sends through c.
func (c *Counter) Client() *http.Client { return &http.Client{Transport: c} }

// BearerStatus sends GET url with "Authorization: Bearer token" using
// http.DefaultClient and returns the response's status code: how a
// stand-in's protected API (GitHub's, Azure Resource Manager's, the token
// exchange's resource) judges a credential. It ends the test with t.Fatal
// if url is malformed or the request cannot be sent.
func BearerStatus(t testing.TB, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
