package masking

// A class is a set of bytes.
type class [256]bool

// newClass returns the bytes named by spec: single bytes and ranges "a-z";
// a '-' that is first or last stands for itself.
func newClass(spec string) *class {
	c := new(class)
	for i := 0; i < len(spec); i++ {
		if i+2 < len(spec) && spec[i+1] == '-' {
			for b := int(spec[i]); b <= int(spec[i+2]); b++ {
				c[b] = true
			}
			i += 2
			continue
		}
		c[spec[i]] = true
	}
	return c
}

// allBut returns every byte except those in spec, control characters
// (including DEL) and, if space is set, white space.
func allBut(spec string, space bool) *class {
	c := new(class)
	for b := range 256 {
		c[b] = b >= 0x20 && b != 0x7f && !(space && b == ' ')
	}
	for i := 0; i < len(spec); i++ {
		c[spec[i]] = false
	}
	return c
}

func bodyClass(b Body) *class {
	switch b {
	case BodyLine:
		c := new(class)
		for i := range c {
			c[i] = i != '\r' && i != '\n'
		}
		return c
	case BodyNonSpace:
		return allBut("", true)
	default:
		return newClass("0-9A-Za-z._=-")
	}
}
