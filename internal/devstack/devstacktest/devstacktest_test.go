package devstacktest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

// tokenSource is the agent's provider.TokenSource, restated: this package
// may not import the agent.
type tokenSource interface {
	Token(ctx context.Context, audience string) (string, error)
}

var _ tokenSource = (*devstacktest.TokenSource)(nil)

// claims are the claims of a minted token these tests look at.
type claims struct{ Aud, Sub string }

// decode reads a JWT's claims without verifying its signature: the tokens
// come from the test's own devstack.
func decode(t *testing.T, token string) claims {
	t.Helper()
	var c claims
	if parts := strings.Split(token, "."); len(parts) == 3 {
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err == nil && json.Unmarshal(raw, &c) == nil {
			return c
		}
	}
	t.Fatalf("cannot decode %d-byte token", len(token))
	return c
}

func TestStartStopsAtCleanup(t *testing.T) {
	var st *devstack.Stack
	t.Run("inner", func(t *testing.T) {
		st = devstacktest.Start(t, devstack.Options{Platform: devstack.PlatformGitLab})
		if code := devstacktest.BearerStatus(t, st.TokenResourceURL, "not-a-token"); code != http.StatusUnauthorized {
			t.Errorf("resource answered a bogus token with %d", code)
		}
	})
	if _, err := http.Get(st.URL + "/devstack/credentials"); err == nil {
		t.Error("the stack still answers after its test's cleanup")
	}
}

func TestTokens(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	ctx := context.Background()

	src := devstacktest.Tokens(st, devstack.TokenRequest{})
	if src.Last() != "" || src.Asked() != nil || src.Issued() != nil {
		t.Fatal("a new source has a history")
	}
	a, err := src.Token(ctx, "aud-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Token(ctx, "aud-b")
	if err != nil {
		t.Fatal(err)
	}
	// An empty template audience is filled per call, not once.
	if ca, cb := decode(t, a), decode(t, b); ca.Aud != "aud-a" || cb.Aud != "aud-b" {
		t.Errorf("audiences %q, %q", ca.Aud, cb.Aud)
	}
	if !slices.Equal(src.Asked(), []string{"aud-a", "aud-b"}) || !slices.Equal(src.Issued(), []string{a, b}) || src.Last() != b {
		t.Errorf("asked %v, issued %d, last is b: %v", src.Asked(), len(src.Issued()), src.Last() == b)
	}
	src.Asked()[0] = "changed"
	if src.Asked()[0] != "aud-a" {
		t.Error("Asked returned the source's own slice")
	}

	// A template audience wins; what was asked is still recorded.
	fixed := devstacktest.Tokens(st, devstack.TokenRequest{Audience: "https://elsewhere", Claims: map[string]any{"sub": "someone"}})
	tok, err := fixed.Token(ctx, devstack.Audience)
	if err != nil {
		t.Fatal(err)
	}
	if c := decode(t, tok); c != (claims{Aud: "https://elsewhere", Sub: "someone"}) {
		t.Errorf("claims %+v", c)
	}
	if !slices.Equal(fixed.Asked(), []string{devstack.Audience}) {
		t.Errorf("asked %v", fixed.Asked())
	}

	// A failed mint is asked but not issued.
	bad := devstacktest.Tokens(st, devstack.TokenRequest{Platform: "jenkins"})
	if _, err := bad.Token(ctx, "x"); err == nil {
		t.Fatal("minted for an unknown platform")
	}
	if len(bad.Asked()) != 1 || bad.Issued() != nil || bad.Last() != "" {
		t.Errorf("after a failed mint: asked %v issued %v", bad.Asked(), bad.Issued())
	}
}

func TestCounterAndBearerStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	var c devstacktest.Counter
	client := c.Client()
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c.Count() != 3 {
		t.Errorf("counted %d requests, want 3", c.Count())
	}
	if good, bad := devstacktest.BearerStatus(t, srv.URL, "good"), devstacktest.BearerStatus(t, srv.URL, "bad"); good != http.StatusOK || bad != http.StatusUnauthorized {
		t.Errorf("statuses %d, %d", good, bad)
	}
}
