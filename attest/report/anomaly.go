package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
)

// Anomaly kinds. docs/report.md states each rule.
const (
	KindNewScope     = "new-scope"     // a scope the identity never used before
	KindNewProvider  = "new-provider"  // a provider the identity never used before
	KindNewRef       = "new-ref"       // a ref the identity's jobs never ran on before
	KindRunnerChange = "runner-change" // a runner environment the identity never ran in before
	KindUnusualHour  = "unusual-hour"  // a start outside the identity's usual hours (UTC)
	KindStale        = "stale"         // silent longer than StaleAfter before its latest job
	KindNotRevoked   = "not-revoked"   // a revocable credential left valid
	KindLongLifetime = "long-lifetime" // a credential living longer than the identity's usual for its scope
)

// Anomaly is one way a job differed from its identity's history: the
// jobs of the same identity that started earlier (ties broken by bundle
// name).
type Anomaly struct {
	Kind string `json:"kind"`
	// Bundle names the bundle of the job that shows it, as given to Add.
	Bundle string    `json:"bundle"`
	At     time.Time `json:"at"` // the job's start
	Detail string    `json:"detail"`
}

// alwaysRevocable are the providers whose credentials chaperone can always
// revoke: for them, a credential left to expire was not revoked.
var alwaysRevocable = []string{"github", "vault"}

// hourSlack widens the usual hours on each side.
const hourSlack = 1

// history is what an identity's earlier jobs add up to.
type history struct {
	jobs      int
	scopes    map[string]bool
	providers map[string]bool
	refs      map[string]bool
	runners   map[string]bool
	hours     [24]int
	lifetimes map[[2]string]lifetimes // by scope and provider
	revoked   map[[2]string]bool      // a credential of it was revoked
}

type lifetimes struct {
	n       int
	longest time.Duration
}

// judge returns the anomalies of one identity's jobs, sorted by start,
// and marks the jobs that show one.
func judge(jobs []*job, opts Options) []Anomaly {
	out := []Anomaly{}
	h := history{scopes: map[string]bool{}, providers: map[string]bool{}, refs: map[string]bool{}, runners: map[string]bool{},
		lifetimes: map[[2]string]lifetimes{}, revoked: map[[2]string]bool{}}
	for i, j := range jobs {
		flag := func(kind, format string, args ...any) {
			out = append(out, Anomaly{Kind: kind, Bundle: j.name, At: j.started, Detail: fmt.Sprintf(format, args...)})
			j.flagged = true
		}
		if h.jobs > 0 {
			for _, c := range distinct(j.creds, func(c cred) string { return c.scope }) {
				if !h.scopes[c.scope] {
					flag(KindNewScope, "scope %q (%s) not used in %d earlier job(s)", c.scope, c.provider, h.jobs)
				}
			}
			for _, c := range distinct(j.creds, func(c cred) string { return c.provider }) {
				if !h.providers[c.provider] {
					flag(KindNewProvider, "provider %q (scope %q) not used in %d earlier job(s)", c.provider, c.scope, h.jobs)
				}
			}
			if j.ref != "" && len(h.refs) > 0 && !h.refs[j.ref] {
				flag(KindNewRef, "ref %q not used in %d earlier job(s) (%s)", j.ref, h.jobs, keys(h.refs, 3))
			}
			if j.runner != "" && len(h.runners) > 0 && !h.runners[j.runner] {
				flag(KindRunnerChange, "runner environment %q; %d earlier job(s) ran on %s", j.runner, h.jobs, keys(h.runners, 3))
			}
		}
		if h.jobs >= opts.MinHistory && !j.started.IsZero() {
			hour := j.started.UTC().Hour()
			if from, to, ok := usualHours(&h.hours); ok && !inHours(hour, from-hourSlack, to+hourSlack) {
				flag(KindUnusualHour, "started %s UTC; usual hours %02d:00–%02d:59 UTC over %d earlier job(s)", j.started.UTC().Format("15:04"), from, to, h.jobs)
			}
		}
		for _, c := range distinct(j.creds, func(c cred) string { return c.scope + "\x00" + c.provider }) {
			k := [2]string{c.scope, c.provider}
			switch {
			case anyCred(j.creds, k, func(c cred) bool { return c.outcome == attest.RevocationFailed }):
				flag(KindNotRevoked, "scope %q (%s): revocation failed; the credential stayed valid", c.scope, c.provider)
			case anyCred(j.creds, k, func(c cred) bool { return c.outcome == attest.RevocationExpiry }) && (slices.Contains(alwaysRevocable, c.provider) || h.revoked[k]):
				flag(KindNotRevoked, "scope %q (%s): left to expire, though its credentials can be revoked", c.scope, c.provider)
			}
			if l := h.lifetimes[k]; l.n >= opts.MinHistory {
				var longest time.Duration
				for _, o := range j.creds {
					if o.scope == c.scope && o.provider == c.provider {
						longest = max(longest, o.lifetime)
					}
				}
				if longest > l.longest+max(time.Minute, l.longest/10) {
					flag(KindLongLifetime, "scope %q (%s): a credential lived %s; at most %s in %d earlier credential(s)", c.scope, c.provider, longest, l.longest, l.n)
				}
			}
		}
		if i == len(jobs)-1 && i > 0 && !j.started.IsZero() && !jobs[i-1].started.IsZero() {
			if gap := j.started.Sub(jobs[i-1].started); gap > opts.StaleAfter {
				flag(KindStale, "silent %s before this job (previous job %s); stale after %s", days(gap), jobs[i-1].started.UTC().Format("2006-01-02"), days(opts.StaleAfter))
			}
		}
		h.add(j)
	}
	return out
}

func (h *history) add(j *job) {
	h.jobs++
	if j.ref != "" {
		h.refs[j.ref] = true
	}
	if j.runner != "" {
		h.runners[j.runner] = true
	}
	if !j.started.IsZero() {
		h.hours[j.started.UTC().Hour()]++
	}
	for _, c := range j.creds {
		h.scopes[c.scope] = true
		h.providers[c.provider] = true
		k := [2]string{c.scope, c.provider}
		if c.outcome == attest.RevocationRevoked {
			h.revoked[k] = true
		}
		if c.lifetime > 0 {
			l := h.lifetimes[k]
			h.lifetimes[k] = lifetimes{n: l.n + 1, longest: max(l.longest, c.lifetime)}
		}
	}
}

// usualHours is the shortest span of the day (from, to: hours, UTC, to
// possibly below from when it spans midnight) holding every hour with an
// earlier job: the day less its longest run of hours without one.
func usualHours(hours *[24]int) (from, to int, ok bool) {
	var present []int
	for h, n := range hours {
		if n > 0 {
			present = append(present, h)
		}
	}
	if len(present) == 0 {
		return 0, 0, false
	}
	gap := -1
	for k, a := range present {
		b := present[(k+1)%len(present)]
		g := (b - a + 24) % 24
		if len(present) == 1 {
			g = 24
		}
		if g > gap {
			gap, from, to = g, b, a
		}
	}
	return from, to, true
}

// inHours says whether hour lies in the span from..to (hours of the day,
// wrapping at midnight; from may be negative and to above 23).
func inHours(hour, from, to int) bool {
	length := to - from
	if length < 0 {
		length += 24
	}
	if length >= 23 {
		return true
	}
	return ((hour-from)%24+24)%24 <= length
}

// distinct returns the first cred of each key, in order.
func distinct(creds []cred, key func(cred) string) []cred {
	var out []cred
	seen := map[string]bool{}
	for _, c := range creds {
		if k := key(c); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

func anyCred(creds []cred, k [2]string, f func(cred) bool) bool {
	for _, c := range creds {
		if c.scope == k[0] && c.provider == k[1] && f(c) {
			return true
		}
	}
	return false
}

// keys lists up to n of a set's keys, sorted.
func keys(m map[string]bool, n int) string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%q", k))
	}
	slices.Sort(out)
	if len(out) > n {
		out = append(out[:n], "…")
	}
	return strings.Join(out, ", ")
}

// days writes a duration of whole days as "N days", else as Go does.
func days(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.String()
}
