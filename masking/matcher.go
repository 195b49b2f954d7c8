package masking

// matcher is an immutable Aho-Corasick automaton over bytes, compiled to a
// full DFA: every state has a transition for every byte class, so a step is
// one table load and the state is all a stream has to carry between
// writes. Writers share a matcher without locking; adding secrets builds a
// new one (see Set).
//
// States are numbered in breadth-first order of the pattern trie (the root
// is 0) and stored premultiplied by the stride, so a transition is
// trans[s+class[b]]. A transition's matchBit is set when the target state
// ends a pattern, which keeps the scan loop to one load and one test per
// byte.
//
// Per state the matcher keeps two lengths, which is all a union of match
// intervals needs (no output lists):
//   - depth: the length of the longest suffix of the stream that is a prefix
//     of some pattern. No match can start earlier than pos-depth, so the
//     bytes before that can be released.
//   - out: the length of the longest pattern that is a suffix of the
//     stream (0 if none), i.e. the widest match ending here.
type matcher struct {
	gen      uint64   // the Set generation this matcher was built for
	patterns []string // the patterns, in registration order
	maxLen   int      // the longest pattern

	class  [256]uint8
	stride uint32 // number of byte classes
	trans  []uint32

	depth []uint32 // by state index (premultiplied state / stride)
	out   []uint32
	pat   []uint32 // a pattern having the state's string as a prefix
}

const (
	matchBit  = 1 << 31
	stateMask = matchBit - 1
)

// maxTable bounds the transition table (entries of 4 bytes). Set.Add keeps
// the patterns' conservative estimate, (pattern bytes + 1) × classes, within
// it, so a build never exceeds it and premultiplied states fit in 31 bits.
const maxTable = 1 << 26

// build compiles patterns (non-empty; duplicates are harmless).
func build(patterns []string, gen uint64) *matcher {
	m := &matcher{gen: gen, patterns: patterns}

	// Byte classes: each byte that occurs in a pattern is its own class;
	// all other bytes share the last class (they always lead back to the
	// root's transitions).
	var used [256]bool
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
		m.maxLen = max(m.maxLen, len(p))
	}
	n := uint32(0)
	for b := range 256 {
		if used[b] {
			m.class[b] = uint8(n)
			n++
		}
	}
	if n < 256 {
		for b := range 256 {
			if !used[b] {
				m.class[b] = uint8(n)
			}
		}
		n++
	}
	stride := n
	m.stride = stride

	// The trie, with dense rows; 0 means "no child" (no edge leads to the
	// root). It has at most one state per pattern byte, plus the root.
	bound := 1
	for _, p := range patterns {
		bound += len(p)
	}
	trans := make([]uint32, stride, bound*int(stride))
	depth := make([]uint32, 1, bound)
	out := make([]uint32, 1, bound)
	pat := make([]uint32, 1, bound)
	for pi, p := range patterns {
		s := uint32(0)
		for i := 0; i < len(p); i++ {
			e := s*stride + uint32(m.class[p[i]])
			next := trans[e]
			if next == 0 {
				next = uint32(len(depth))
				trans[e] = next
				trans = append(trans, make([]uint32, stride)...)
				depth = append(depth, uint32(i+1))
				out = append(out, 0)
				pat = append(pat, uint32(pi))
			}
			s = next
		}
		out[s] = uint32(len(p))
	}

	// Failure links, breadth first; a missing edge becomes the failure
	// state's transition, which turns the trie into a DFA. The root's
	// missing edges already read 0, the root.
	states := uint32(len(depth))
	fail := make([]uint32, states)
	queue := make([]uint32, 0, states)
	for c := range stride {
		if v := trans[c]; v != 0 {
			queue = append(queue, v)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		u := queue[qi]
		f := fail[u]
		if out[u] == 0 {
			out[u] = out[f]
		}
		row, frow := trans[u*stride:(u+1)*stride], trans[f*stride:(f+1)*stride]
		for c, v := range row {
			if v != 0 {
				fail[v] = frow[c]
				queue = append(queue, v)
			} else {
				row[c] = frow[c]
			}
		}
	}

	// Premultiply and flag transitions into matching states.
	for i, v := range trans {
		t := v * stride
		if out[v] != 0 {
			t |= matchBit
		}
		trans[i] = t
	}
	m.trans, m.depth, m.out, m.pat = trans, depth, out, pat
	return m
}

// emptyMatcher matches nothing; it has one state and one class.
func emptyMatcher() *matcher {
	return &matcher{stride: 1, trans: []uint32{0}, depth: []uint32{0}, out: []uint32{0}, pat: []uint32{0}}
}

// context returns the string of state s (premultiplied): the suffix of the
// stream the state stands for, depth bytes long.
func (m *matcher) context(s uint32) string {
	i := s / m.stride
	if i == 0 {
		return ""
	}
	return m.patterns[m.pat[i]][:m.depth[i]]
}
