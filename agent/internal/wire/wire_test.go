package wire

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDoRetriesServerErrorsThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"value":"ok"}`))
		}
	}))
	defer srv.Close()
	var out struct{ Value string }
	_, err := Do(context.Background(), Request{Op: "test", Method: http.MethodGet, URL: srv.URL}, &out, Options{Base: time.Millisecond})
	if err != nil || out.Value != "ok" || calls.Load() != 3 {
		t.Fatalf("err=%v value=%q calls=%d; want success on the third call", err, out.Value, calls.Load())
	}
}

func TestDoFailsFastOnRefusal(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":["permission denied","role mismatch"]}`))
	}))
	defer srv.Close()
	_, err := Do(context.Background(), Request{Op: "vault login", Method: http.MethodPost, URL: srv.URL}, nil, Options{})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 {
		t.Fatalf("err = %v, want a 403 StatusError", err)
	}
	if calls.Load() != 1 {
		t.Errorf("refusal retried: %d calls", calls.Load())
	}
	if got := err.Error(); got != "vault login: HTTP 403: permission denied; role mismatch" {
		t.Errorf("message %q", got)
	}
}

// TestDoGivesUpAtDeadline: a server that keeps failing is retried, then
// given up on with its last answer; a 300 ms budget with a 10 ms first
// backoff allows a handful of attempts, not an endless loop.
func TestDoGivesUpAtDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := Do(context.Background(), Request{Op: "x", Method: http.MethodGet, URL: srv.URL}, nil, Options{Deadline: 300 * time.Millisecond, Base: 10 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("err = %v", err)
	}
	if n := calls.Load(); n < 2 || n > 20 {
		t.Errorf("%d attempts within a 300 ms budget", n)
	}
}

// TestDoBoundsResponses: an oversized answer is refused at the bound, and
// not asked for again.
func TestDoBoundsResponses(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(strings.Repeat("a", MaxResponseBytes+10)))
	}))
	defer srv.Close()
	_, err := Do(context.Background(), Request{Op: "big", Method: http.MethodGet, URL: srv.URL}, nil, Options{Deadline: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests for an oversized answer, want 1", n)
	}
}

func TestServerMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"message":"Bad credentials"}`:                     "Bad credentials",
		`{"error":"invalid_grant","error_description":"x"}`: "x",
		`{"errors":[]}`: "",
		`{"errors":["permission denied","role mismatch"]}`: "permission denied; role mismatch",
		// OpenBao and Vault wrap reasons in go-multierror's text.
		`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`:               "1 error occurred: * permission denied",
		`{"errors":["2 errors occurred:\n\t* role \"x\" not found\n\t* nope\n\n"]}`: `2 errors occurred: * role "x" not found; * nope`,
		"plain text\nsecond line":                    "plain text; second line",
		"first\r\n\r\n  second  \r third":            "first; second; third",
		`<ErrorResponse><Error><Message>m</Message>`: "<ErrorResponse><Error><Message>m</Message>",
		// Control characters inside a line are quoted, never passed on to a
		// terminal; so are bytes that are not UTF-8.
		"red \x1b[31malert\x1b[0m\ttab":   `red \x1b[31malert\x1b[0m\ttab`,
		"bidi \u202egnp.exe and \xff\xfe": `bidi \u202egnp.exe and \xff\xfe`,
		`{"message":"a\u0000b\u2028c"}`:   `a\x00b\u2028c`,
	} {
		if got := ServerMessage([]byte(body)); got != want {
			t.Errorf("ServerMessage(%q) = %q, want %q", body, got, want)
		}
	}
}

// TestServerMessageBounded: a long reason is cut at MaxMessageBytes, on a
// character boundary, and says it was cut.
func TestServerMessageBounded(t *testing.T) {
	long := strings.Repeat("é", MaxMessageBytes) // 2 bytes each
	msg := ServerMessage([]byte(`{"errors":["` + long + `"]}`))
	if !strings.HasSuffix(msg, "…") || len(msg) > MaxMessageBytes+len("…") || !utf8.ValidString(msg) {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v, ends %q", len(msg), utf8.ValidString(msg), msg[len(msg)-8:])
	}
	lines := strings.Repeat("line\n", 10000)
	if msg := ServerMessage([]byte(lines)); len(msg) > MaxMessageBytes+len("…") {
		t.Fatalf("reason of %d bytes from many lines", len(msg))
	}
}

// FuzzServerMessage: whatever a server sends, the reason is one bounded
// line of printable UTF-8.
func FuzzServerMessage(f *testing.F) {
	f.Add([]byte(`{"errors":["a","b"]}`))
	f.Add([]byte(`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`))
	f.Add([]byte(`{"error":{"code":403,"message":"x"}}`))
	f.Add([]byte("<xml>\n</xml>"))
	f.Add([]byte("\x1b]0;title\a\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := ServerMessage(body)
		if len(msg) > MaxMessageBytes+len("…") {
			t.Fatalf("reason of %d bytes", len(msg))
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("reason %q is not UTF-8", msg)
		}
		for _, r := range msg {
			if r != ' ' && !strconv.IsPrint(r) {
				t.Fatalf("reason %q holds %U", msg, r)
			}
		}
	})
}

// TestDoDeadlineEndsHungAttempt: a server that accepts and never answers
// cannot hold Do past its deadline, even with a client that has no
// timeout of its own.
func TestDoDeadlineEndsHungAttempt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Do(context.Background(), Request{Op: "hung", Method: http.MethodGet, URL: srv.URL}, nil, Options{Client: &http.Client{}, Deadline: 300 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || err.Error() != "hung: no answer within 300ms" {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do still waiting on a hung server 10s into a 300ms deadline")
	}
}
