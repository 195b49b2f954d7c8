package masking

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultMask is the mask token used when Options.Mask is empty.
const DefaultMask = "***"

// DefaultMinLength is the minimum secret length used when Options.MinLength
// is less than 1.
const DefaultMinLength = 4

// maxWarnings bounds the warnings a Set keeps; Add's count is exact.
const maxWarnings = 100

// Budget of a Set's patterns: beyond it a secret is not registered (a
// warning says so), so that a runaway secrets file cannot exhaust memory.
const (
	maxPatternBytes = 64 << 20
	maxPatterns     = 1 << 21
)

// MaxSecretLength is the longest secret Add registers.
const MaxSecretLength = 1 << 20

// Options configures a Set.
type Options struct {
	// Mask replaces each merged run of secret material. Default "***"
	// (GitLab uses "[MASKED]").
	Mask string
	// MinLength is the shortest secret, in bytes, that is registered;
	// shorter values would mask ordinary output. Values below 1 mean 4.
	// Fragments of a secret (its lines, JSON string leaves) obey it too;
	// its encoded forms must also be at least MinEncodedLength bytes.
	MinLength int
	// TokenPrefixes mask the run of token characters (BodyToken) after
	// each prefix wherever it appears, keeping the prefix visible, like
	// gitlab-runner's token masker but with no cap on their number. Their
	// hits count under "token-prefix".
	TokenPrefixes []string
	// Rules are further prefix rules.
	Rules []Rule
	// Detectors selects the built-in detectors (see Detectors()) by id:
	// nil enables all of them, an empty non-nil slice none.
	Detectors []string
	// NoANSI makes escape sequences ordinary bytes. By default they are
	// invisible to matching, so a secret with colour changes inside it is
	// masked.
	NoANSI bool
	// Encoders are further encoders: each registered secret (and its LF,
	// CRLF, trimmed, unquoted and whitespace-collapsed forms) is also
	// registered as each encoder returns it. Their hits count under
	// "secret-custom".
	Encoders []func(string) string
}

// Validate reports options that NewSet would ignore: token prefixes and
// rules too short or malformed, unknown detector ids and nil encoders.
func (o Options) Validate() error {
	var errs []error
	for i, e := range o.Encoders {
		if e == nil {
			errs = append(errs, fmt.Errorf("masking: encoder #%d is nil", i))
		}
	}
	for _, p := range o.TokenPrefixes {
		if err := (Rule{Prefix: p}).validate(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range o.Rules {
		if err := r.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	known := Detectors()
	for _, id := range o.Detectors {
		if !slices.Contains(known, id) {
			errs = append(errs, fmt.Errorf("masking: unknown detector %q (known: %s)", id, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

// A Warning reports a secret that Add did not register, or registered only
// in part. It never contains the secret's value.
type Warning struct {
	// Index is the position of the secret among the arguments of the Add
	// call that reported it.
	Index int
	// Reason says what happened, e.g. "not masked: shorter than the
	// minimum length (4 bytes)".
	Reason string
}

func (w Warning) String() string {
	return fmt.Sprintf("secret #%d %s", w.Index, w.Reason)
}

// A Set is the collection of registered secrets and detectors that Writers
// mask. It is safe for concurrent use: secrets may be added while any
// number of Writers run, and every byte a Writer receives after Add returns
// is matched against the new secrets too.
//
// Adding is cheap; the matcher is rebuilt from all patterns when a Writer
// next needs it, so a burst of Adds costs one rebuild (about 10 ms per
// thousand secrets).
type Set struct {
	opts   Options // normalised; read-only after NewSet
	mask   []byte
	ansi   bool
	det    detectorSet
	hitIDs []string
	hits   []atomic.Int64

	mu       sync.Mutex
	budget   int                 // maxPatternBytes; lower in tests
	patterns []pattern           // every pattern, in registration order
	secrets  map[string]struct{} // registered secrets
	known    map[string]struct{} // registered patterns
	bytes    int                 // total pattern bytes
	warnings []Warning

	gen        atomic.Uint64 // bumped by every Add that adds a pattern
	cur        atomic.Pointer[matcher]
	redactions atomic.Int64
}

// NewSet returns a Set with no secrets and the detectors opts selects.
// Invalid token prefixes, rules, detector ids and encoders are ignored
// (see Options.Validate).
func NewSet(opts Options) *Set {
	if opts.Mask == "" {
		opts.Mask = DefaultMask
	}
	if opts.MinLength < 1 {
		opts.MinLength = DefaultMinLength
	}
	opts.Encoders = slices.DeleteFunc(slices.Clone(opts.Encoders), func(e func(string) string) bool { return e == nil })
	s := &Set{opts: opts, mask: []byte(opts.Mask), ansi: !opts.NoANSI, budget: maxPatternBytes,
		secrets: make(map[string]struct{}), known: make(map[string]struct{})}
	ids := secretHitIDs()
	s.hitIDs = append(s.hitIDs, ids[:]...)
	hit := func(id string) int {
		if i := slices.Index(s.hitIDs, id); i >= 0 {
			return i
		}
		s.hitIDs = append(s.hitIDs, id)
		return len(s.hitIDs) - 1
	}
	rules := slices.Clone(opts.Rules)
	for _, p := range opts.TokenPrefixes {
		rules = append(rules, Rule{Prefix: p})
	}
	s.det = compileDetectors(opts.Detectors, rules, hit)
	s.hits = make([]atomic.Int64, len(s.hitIDs))
	for _, p := range s.det.prefixes {
		s.addPattern(p)
	}
	s.cur.Store(build(s.patterns, &s.det, 0))
	return s
}

// Add registers secrets and returns how many it did not register in full.
// A secret is skipped when it is empty or shorter than Options.MinLength;
// one that is only white space registers only its encoded forms that are
// not white space. The reasons are kept for Warnings. Registering a secret
// again is a no-op. Secrets apply to all later output of every Writer of
// the Set, including bytes a Writer is holding back.
func (s *Set) Add(secrets ...string) (skipped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen := s.gen.Load() + 1
	added := false
	for i, v := range secrets {
		if _, ok := s.secrets[v]; ok {
			continue
		}
		if r := skipReason(v, s.opts.MinLength); r != "" {
			s.warn(Warning{Index: i, Reason: "not masked: " + r})
			skipped++
			continue
		}
		if s.bytes+len(v) > s.budget {
			s.warn(Warning{Index: i, Reason: "not masked: it exceeds the masker's size budget"})
			skipped++
			continue
		}
		pats := variants(v, s.opts.MinLength, s.opts.Encoders, s.ansi)
		dropped := 0
		for _, p := range pats {
			p.gen = gen
			switch s.addPattern(p) {
			case addedNew:
				added = true
			case overBudget:
				dropped++
			}
		}
		switch {
		case len(pats) > 0 && dropped == len(pats):
			s.warn(Warning{Index: i, Reason: "not masked: it exceeds the masker's size budget"})
			skipped++
			continue
		case dropped > 0:
			s.warn(Warning{Index: i, Reason: fmt.Sprintf("only partly masked: %d of its %d patterns exceed the masker's size budget", dropped, len(pats))})
			skipped++
			continue
		case strings.TrimSpace(v) == "":
			s.warn(Warning{Index: i, Reason: "white space only: only its escaped forms are masked"})
			skipped++
		case s.ansi && len(stripANSI(v)) < s.opts.MinLength:
			s.warn(Warning{Index: i, Reason: fmt.Sprintf("its visible part (without escape sequences and NUL bytes) is shorter than the minimum length (%d bytes): only its encoded forms are masked", s.opts.MinLength)})
			skipped++
		}
		s.secrets[v] = struct{}{}
	}
	if added {
		s.gen.Store(gen)
	}
	return skipped
}

type addResult int

const (
	addedNew addResult = iota
	alreadyKnown
	overBudget
)

// addPattern registers p unless it is known or over the budget. Callers
// hold s.mu (or own s).
func (s *Set) addPattern(p pattern) addResult {
	if _, ok := s.known[p.s]; ok {
		return alreadyKnown
	}
	if s.bytes+len(p.s) > s.budget || len(s.patterns) >= maxPatterns {
		return overBudget
	}
	s.known[p.s] = struct{}{}
	s.patterns = append(s.patterns, p)
	s.bytes += len(p.s)
	return addedNew
}

func (s *Set) warn(w Warning) {
	if len(s.warnings) < maxWarnings {
		s.warnings = append(s.warnings, w)
	}
}

// Warnings returns the reasons Add skipped secrets, oldest first (at most
// the first 100). They never contain secret values.
func (s *Set) Warnings() []Warning {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Warning(nil), s.warnings...)
}

// Len returns the number of distinct secrets registered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Patterns returns the number of literal patterns the Set's secrets
// registered (the values and their derived forms).
func (s *Set) Patterns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.patterns) - len(s.det.prefixes)
}

// Redactions returns the number of mask tokens written by all Writers of
// the Set so far.
func (s *Set) Redactions() int { return int(s.redactions.Load()) }

// Hits returns how many matches each rule had in all Writers of the Set so
// far, by rule id: "secret" for registered secrets as given (and their
// lines and other plain forms), "secret-base64", "secret-json",
// "secret-url", "secret-xml", "secret-shell", "secret-hex", "secret-utf16"
// and "secret-custom" for their encoded forms, the built-in detectors' ids
// (see Detectors) and the ids of Options.Rules ("token-prefix" for
// Options.TokenPrefixes). Rules without matches are left out. A match
// is an occurrence (or, for a detector, one masked token or key), counted
// once however the output was split into writes; overlapping occurrences
// each count.
func (s *Set) Hits() map[string]int {
	out := make(map[string]int)
	for i := range s.hits {
		if n := s.hits[i].Load(); n > 0 {
			out[s.hitIDs[i]] = int(n)
		}
	}
	return out
}

// MaskString returns str with the Set's secrets masked, as a Writer would
// mask it as a whole stream.
func (s *Set) MaskString(str string) string {
	var b strings.Builder
	w := s.NewWriter(&b)
	_, _ = io.WriteString(w, str)
	_ = w.Close()
	return b.String()
}

// matcher returns a matcher for all patterns added so far, building it if
// an Add made the current one stale.
func (s *Set) matcher() *matcher {
	m := s.cur.Load()
	if m.gen == s.gen.Load() {
		return m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m = s.cur.Load()
	if g := s.gen.Load(); m.gen != g {
		m = build(s.patterns[:len(s.patterns):len(s.patterns)], &s.det, g)
		s.cur.Store(m)
	}
	return m
}
