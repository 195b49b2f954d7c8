// Package wire holds the HTTP plumbing the providers share: bounded
// response reads, JSON decoding, and retries with jittered exponential
// backoff that give up at once on a 4xx refusal.
package wire

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sethvargo/go-retry"
)

// MaxResponseBytes bounds every response body a provider reads.
const MaxResponseBytes = 1 << 20

// MaxMessageBytes bounds the server's reason that an error quotes.
const MaxMessageBytes = 512

// errTooLarge is a response beyond MaxResponseBytes: a broken or hostile
// server, not a passing fault, so it is not retried.
var errTooLarge = fmt.Errorf("response larger than %d bytes", MaxResponseBytes)

// StatusError is a non-2xx answer. Message is the server's own reason,
// extracted from the usual JSON error shapes by ServerMessage: one
// bounded line of printable text.
type StatusError struct {
	Op      string
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, msg)
}

// Retryable reports whether a later attempt could succeed: server errors
// and throttling are, refusals are not.
func (e *StatusError) Retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// Request describes one HTTP exchange. Body is re-sent on each attempt.
type Request struct {
	Op     string // what is being done, for errors: "vault login"
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// Options tune Do. The zero value retries for up to 30 seconds.
type Options struct {
	Client   *http.Client
	Deadline time.Duration // bounds all attempts together; default 30s
	Base     time.Duration // first backoff; default 200ms
}

// Do sends r, retrying transport failures and 5xx/429 answers with
// jittered exponential backoff until the deadline. A 2xx body is decoded
// into out (if out is non-nil); any other answer becomes a *StatusError.
func Do(ctx context.Context, r Request, out any, opts Options) (int, error) {
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	deadline := opts.Deadline
	if deadline <= 0 {
		deadline = 30 * time.Second
	}
	base := opts.Base
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	backoff := retry.WithMaxDuration(deadline, retry.WithJitterPercent(30, retry.WithCappedDuration(5*time.Second, retry.NewExponential(base))))
	// The backoff only stops scheduling attempts; the deadline must also
	// end an attempt in flight (a server that accepts and never answers).
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var status int
	var answered error // the last error that was not a timeout
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		var err error
		status, err = once(ctx, client, r, out)
		if err != nil && !isTimeout(err) {
			answered = err
		}
		var se *StatusError
		if errors.As(err, &se) && !se.Retryable() || errors.Is(err, errTooLarge) {
			return err // asking again gets the same answer
		}
		if err != nil && ctx.Err() == nil {
			return retry.RetryableError(err)
		}
		return err
	})
	if err != nil && parent.Err() == nil && ctx.Err() != nil {
		// The deadline ended it: report the last answer, if there was one.
		if answered != nil {
			return status, answered
		}
		return status, fmt.Errorf("%s: no answer within %s", r.Op, deadline)
	}
	return status, err
}

// isTimeout reports whether err is an attempt that got no answer in time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func once(ctx context.Context, client *http.Client, r Request, out any) (int, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.Op, err)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.Op, stripURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: reading response: %w", r.Op, err)
	}
	if len(data) > MaxResponseBytes {
		return resp.StatusCode, fmt.Errorf("%s: %w", r.Op, errTooLarge)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &StatusError{Op: r.Op, Status: resp.StatusCode, Message: ServerMessage(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: decoding response: %w", r.Op, err)
		}
	}
	return resp.StatusCode, nil
}

// stripURL drops the request URL from transport errors: query strings can
// carry tokens, and the operation name already says where it failed.
func stripURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// ServerMessage pulls a human reason out of the common JSON error shapes
// (Vault's {"errors":[...]}, GitHub's {"message":...}, OAuth's
// {"error_description":...}, Google's {"error":{"status","message"}}),
// falling back to the body itself. The reason is untrusted text made safe
// to print as one line: every line of it is kept, trimmed and joined
// (OpenBao's "1 error occurred:\n\t* permission denied\n\n" becomes
// "1 error occurred: * permission denied"; the entries of an errors array
// and other lines are joined with "; "), control and other unprintable
// characters left inside a line are quoted as Go escapes (\x1b, \t,
// \u202e), so are bytes that are not UTF-8, and the result is cut at
// MaxMessageBytes on a character boundary, ending in "…" when cut.
func ServerMessage(body []byte) string {
	var shapes struct {
		Errors           []any  `json:"errors"`
		Message          string `json:"message"`
		Error            any    `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	msg := ""
	if json.Unmarshal(body, &shapes) == nil {
		switch {
		case len(shapes.Errors) > 0:
			parts := make([]string, 0, len(shapes.Errors))
			for _, e := range shapes.Errors {
				parts = append(parts, fmt.Sprint(e))
			}
			msg = strings.Join(parts, "\n")
		case shapes.Message != "":
			msg = shapes.Message
		case shapes.ErrorDescription != "":
			msg = shapes.ErrorDescription
		case shapes.Error != nil:
			msg = errorField(shapes.Error)
		}
	} else {
		msg = string(body)
	}
	return oneLine(msg, MaxMessageBytes)
}

// oneLine joins the non-blank lines of s, each trimmed, into one line of at
// most max bytes (plus "…" when cut): a line follows one that ends in ':'
// after a space, any other after "; ". Unprintable characters and invalid
// UTF-8 inside a line are quoted as Go escapes.
func oneLine(s string, max int) string {
	var b strings.Builder
	for line := range strings.Lines(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			sep := "; "
			if strings.HasSuffix(b.String(), ":") {
				sep = " "
			}
			if b.Len()+len(sep) > max {
				return b.String() + "…"
			}
			b.WriteString(sep)
		}
		for i, r := range line {
			var piece string
			switch {
			case r == utf8.RuneError && !strings.HasPrefix(line[i:], string(utf8.RuneError)):
				piece = fmt.Sprintf(`\x%02x`, line[i])
			case r == ' ' || strconv.IsPrint(r):
				piece = string(r)
			default:
				piece = strings.Trim(strconv.QuoteRune(r), "'")
			}
			if b.Len()+len(piece) > max {
				return b.String() + "…"
			}
			b.WriteString(piece)
		}
	}
	return b.String()
}

// errorField renders an "error" member: OAuth's string code, or Google's
// {"code","message","status"} object as "STATUS: message".
func errorField(v any) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	msg, _ := obj["message"].(string)
	if status, _ := obj["status"].(string); status != "" && msg != "" {
		return status + ": " + msg
	}
	if msg != "" {
		return msg
	}
	return fmt.Sprint(v)
}

// ParseHTTPURL checks that a configured endpoint (named key in errors) is
// an absolute http(s) URL without user info or fragment.
func ParseHTTPURL(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q is not an http(s) URL", key, raw)
	}
	return u, nil
}

// SHA256Hex is the fingerprint format used in attestations.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
