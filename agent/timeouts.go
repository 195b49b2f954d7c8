package agent

import (
	"net/http"
	"time"
)

// Defaults of the timeouts: block.
const (
	defaultAttemptTimeout = 10 * time.Second
	defaultRequestTimeout = 30 * time.Second
	defaultCleanupTimeout = 2 * time.Minute
	defaultKillGrace      = 10 * time.Second
)

// TimeoutConfig bounds everything chaperone waits for, so that no single
// server that accepts and never answers can hold a job or its cleanup.
type TimeoutConfig struct {
	// Attempt bounds one HTTP exchange, from connect to the last byte.
	Attempt time.Duration `mapstructure:"attempt"`
	// Request bounds one request with all its retries.
	Request time.Duration `mapstructure:"request"`
	// Cleanup bounds the end of the job: every revocation (they run
	// concurrently), signing and storage.
	Cleanup time.Duration `mapstructure:"cleanup"`
	// KillGrace is how long the processes a command leaves behind get
	// between SIGTERM and SIGKILL (and how long a cancelled command gets).
	KillGrace time.Duration `mapstructure:"kill-grace"`
}

// withDefaults fills the unset timeouts. A negative value is a config
// error caught by validate.
func (t TimeoutConfig) withDefaults() TimeoutConfig {
	if t.Attempt == 0 {
		t.Attempt = defaultAttemptTimeout
	}
	if t.Request == 0 {
		t.Request = defaultRequestTimeout
	}
	if t.Cleanup == 0 {
		t.Cleanup = defaultCleanupTimeout
	}
	if t.KillGrace == 0 {
		t.KillGrace = defaultKillGrace
	}
	return t
}

// validate names the first timeout that is negative.
func (t TimeoutConfig) validate() (key string, ok bool) {
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"timeouts.attempt", t.Attempt}, {"timeouts.request", t.Request}, {"timeouts.cleanup", t.Cleanup}, {"timeouts.kill-grace", t.KillGrace}} {
		if f.d < 0 {
			return f.key, false
		}
	}
	return "", true
}

// boundedClient returns c (http.DefaultClient when nil) with every
// exchange bounded by attempt, unless c already sets a shorter bound.
func boundedClient(c *http.Client, attempt time.Duration) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	if c.Timeout > 0 && c.Timeout <= attempt {
		return c
	}
	bounded := *c
	bounded.Timeout = attempt
	return &bounded
}
