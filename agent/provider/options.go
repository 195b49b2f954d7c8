package provider

import (
	"net/http"
	"time"
)

// Settings are the transport knobs every provider takes.
type Settings struct {
	Client        *http.Client  // nil means http.DefaultClient
	RetryDeadline time.Duration // overall retry budget per request; 0 means 30s
}

// Option configures a provider's Settings.
type Option func(*Settings)

// WithHTTPClient sets the client used for every request.
func WithHTTPClient(c *http.Client) Option { return func(s *Settings) { s.Client = c } }

// WithRetryDeadline bounds the time spent retrying one request.
func WithRetryDeadline(d time.Duration) Option { return func(s *Settings) { s.RetryDeadline = d } }

// Apply folds opts into Settings.
func Apply(opts ...Option) Settings {
	var s Settings
	for _, o := range opts {
		o(&s)
	}
	return s
}
