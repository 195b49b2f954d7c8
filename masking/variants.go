package masking

// Variants returns the literal strings the Set masks for secret once it is
// added: the value first, then its fragments and encoded forms (see the
// package documentation), without duplicates, under the Set's MinLength
// and Encoders. It registers nothing. A secret that Add would skip (empty,
// too short, too long) has none.
//
// It is for masking the same secret in a masker that matches literal
// strings only, such as the GitHub runner's (one ::add-mask:: per
// variant). Escape sequences inside the secret are kept, since such a
// masker sees them; a base64 variant is the stable core of the value's
// encoding, not the whole encoding. UTF-16 forms are left out, and so are
// the forms the Set matches by decoding (hex with separators, wrapped
// base64), which have no literal.
func (s *Set) Variants(secret string) []string {
	if skipReason(secret, s.opts.MinLength) != "" {
		return nil
	}
	pats := variants(secret, s.opts.MinLength, s.opts.Encoders, false)
	out := make([]string, 0, len(pats))
	for _, p := range pats {
		// UTF-16 forms have NUL bytes, which no workflow command carries;
		// and a runner's log of UTF-16 output is not text it masks.
		if p.hit != hitUTF16 {
			out = append(out, p.s)
		}
	}
	return out
}
