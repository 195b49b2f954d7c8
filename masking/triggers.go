package masking

// ruleKind is how a detector matches after its trigger.
type ruleKind uint8

const (
	kindRun      ruleKind = iota // prefix visible; the run of body bytes after it is masked
	kindAWS                      // prefix visible; exactly 16 [A-Z2-7] (held while pending), then a run
	kindPEM                      // header line visible; everything to the end of the footer is masked
	kindUserinfo                 // scheme://user: visible; the password (held until '@') is masked
	kindTail                     // the extension of a literal match (base64 remainder, masked-prefix runs)
)

// A rule is a compiled detector.
type rule struct {
	id   string
	kind ruleKind
	pre  *class // the bytes before the commit: the AWS key, the PEM header, the URL user name
	body *class // kindRun, and the run after a commit for the others
	hit  int    // index of the rule's hit counter
}

// A trigger is the fixed start of a detector match (its shape): an
// optional byte of class lead, a literal, optionally matched in any ASCII
// case, and bytes of the classes next.
type trigger struct {
	lead *class
	lit  string // lower case when fold
	fold bool
	next []*class
	rule int
}

func (t *trigger) size() int { return t.litAt() + len(t.lit) + len(t.next) }

// litAt is the offset of the literal in the shape.
func (t *trigger) litAt() int {
	if t.lead != nil {
		return 1
	}
	return 0
}

// matchAt reports whether the trigger's shape is at b[0:size].
func (t *trigger) matchAt(b []byte) bool {
	if len(b) < t.size() || t.lead != nil && !t.lead[b[0]] {
		return false
	}
	b = b[t.litAt():]
	for i := 0; i < len(t.lit); i++ {
		c := b[i]
		if t.fold && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t.lit[i] {
			return false
		}
	}
	for i, cl := range t.next {
		if !cl[b[len(t.lit)+i]] {
			return false
		}
	}
	return true
}

// byteSet returns the bytes the shape may have at offset p.
func (t *trigger) byteSet(p int) []byte {
	var cl *class
	switch l := t.litAt(); {
	case p < l:
		cl = t.lead
	case p-l < len(t.lit):
		c := t.lit[p-l]
		if t.fold && c >= 'a' && c <= 'z' {
			return []byte{c, c - ('a' - 'A')}
		}
		return []byte{c}
	default:
		cl = t.next[p-l-len(t.lit)]
	}
	var out []byte
	for b := range 256 {
		if cl[b] {
			out = append(out, byte(b))
		}
	}
	return out
}

// tailSpec describes what a literal match extends over: up to n1 bytes of
// c1, then up to n2 bytes of c2 (0 means no limit).
type tailSpec struct {
	c1, c2 *class
	n1, n2 int
}

// bounded reports whether the run of t has a maximum length.
func (t *tailSpec) bounded() bool {
	return (t.c1 == nil || t.n1 > 0) && (t.c2 == nil || t.n2 > 0)
}
