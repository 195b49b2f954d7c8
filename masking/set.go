package masking

import (
	"fmt"
	"io"
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

// Options configures a Set.
type Options struct {
	// Mask replaces each merged run of secret material. Default "***"
	// (GitLab uses "[MASKED]").
	Mask string
	// MinLength is the shortest secret, in bytes, that is registered;
	// shorter values would mask ordinary output. Values below 1 mean 4.
	// Patterns derived from a secret (such as its lines) obey it too.
	MinLength int
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

// A Set is the collection of registered secrets that Writers mask. It is
// safe for concurrent use: secrets may be added while any number of
// Writers run, and every byte a Writer receives after Add returns is
// matched against the new secrets too.
//
// Adding is cheap; the matcher is rebuilt from all patterns when a Writer
// next needs it, so a burst of Adds costs one rebuild.
type Set struct {
	opts Options // normalised; read-only after NewSet
	mask []byte  // opts.Mask

	mu       sync.Mutex
	patterns []string            // every pattern, in registration order
	secrets  map[string]struct{} // registered secrets
	known    map[string]struct{} // registered patterns
	used     [256]bool           // bytes occurring in patterns, for the table budget
	classes  int
	bytes    int // total pattern bytes
	warnings []Warning

	gen        atomic.Uint64 // bumped by every Add that adds a pattern
	cur        atomic.Pointer[matcher]
	redactions atomic.Int64
}

// NewSet returns an empty Set.
func NewSet(opts Options) *Set {
	if opts.Mask == "" {
		opts.Mask = DefaultMask
	}
	if opts.MinLength < 1 {
		opts.MinLength = DefaultMinLength
	}
	s := &Set{opts: opts, mask: []byte(opts.Mask), secrets: make(map[string]struct{}), known: make(map[string]struct{}), classes: 1}
	s.cur.Store(emptyMatcher())
	return s
}

// Add registers secrets and returns how many it did not register in full.
// A secret is skipped when it is empty, whitespace only or shorter than
// Options.MinLength; the reasons are kept for Warnings. Registering a
// secret again is a no-op. Secrets apply to all later output of every
// Writer of the Set, including bytes a Writer is holding back.
func (s *Set) Add(secrets ...string) (skipped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
		dropped := 0
		pats := variants(v, s.opts.MinLength)
		for _, p := range pats {
			if _, ok := s.known[p]; ok {
				continue
			}
			if !s.fits(p) {
				dropped++
				continue
			}
			s.known[p] = struct{}{}
			s.patterns = append(s.patterns, p)
			added = true
		}
		if dropped > 0 {
			r := "not masked: it exceeds the masker's size budget"
			if dropped < len(pats) {
				r = fmt.Sprintf("only partly masked: %d of its %d patterns exceed the masker's size budget", dropped, len(pats))
			}
			s.warn(Warning{Index: i, Reason: r})
			skipped++
			continue
		}
		s.secrets[v] = struct{}{}
	}
	if added {
		s.gen.Add(1)
	}
	return skipped
}

// fits accounts for p in the table budget if the table would stay within
// maxTable, and reports whether it did. Callers hold s.mu.
func (s *Set) fits(p string) bool {
	classes := s.classes
	var seen [256]bool
	for i := 0; i < len(p); i++ {
		if b := p[i]; !s.used[b] && !seen[b] {
			seen[b] = true
			classes++
		}
	}
	if int64(s.bytes+len(p)+1)*int64(min(classes, 257)) > maxTable {
		return false
	}
	for i := 0; i < len(p); i++ {
		s.used[p[i]] = true
	}
	s.classes = classes
	s.bytes += len(p)
	return true
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

// Len returns the number of distinct secrets registered in full.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

// Redactions returns the number of mask tokens written by all Writers of
// the Set so far.
func (s *Set) Redactions() int { return int(s.redactions.Load()) }

// NewWriter returns a Writer that writes to w the bytes written to it, with
// the Set's secrets masked. Each output stream (stdout, stderr) needs its
// own Writer; they share the Set.
func (s *Set) NewWriter(w io.Writer) *Writer {
	return &Writer{set: s, dst: w, m: s.matcher()}
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
		m = build(s.patterns[:len(s.patterns):len(s.patterns)], g)
		s.cur.Store(m)
	}
	return m
}
