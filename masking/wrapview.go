package masking

// The wrapped base64 view. base64 wraps its output at 76 columns (MIME,
// coreutils), PEM and openssl at 64, so a secret's stable core of 48 bytes
// or more always has a line break inside, and one of fewer bytes often
// has. The view joins the lines of such a block and matches the same
// patterns in them, so that a base64 core split by a line break is masked
// too (the break with it).
//
// A segment begins with a line of exactly 64 or 76 characters of either
// base64 alphabet (without '=') and a line break (LF or CRLF), and goes on
// over the lines after it while they have the same width; the characters
// of the line after the last full one end it (a character that is not
// base64, the line's break, or one character too many). Such a line is
// found by the distance between two line feeds, with word shifts of a
// bitmap of the write's line feeds; the lines of a segment are read byte
// by byte.
//
// The first line is known to be one only at its line feed, when most of it
// may have been passed on: a match that crosses the break begins with a
// proper prefix of a pattern, which the plain scan holds back, so what
// this view needs has not been.

// b64Class marks the characters of both base64 alphabets but '='.
var b64Class = func() (c [256]bool) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_") {
		c[b] = true
	}
	return c
}()

// wrapView is a Writer's wrapped base64 view state.
type wrapView struct {
	view
	inSeg bool
	width int   // the segment's line width: 64 or 76
	n     int   // base64 characters of the current line
	cr    bool  // the current line has its CR
	line  int64 // clean offset of the current line's first byte
	// tail is the last clean bytes before the current write, for a line
	// that began before it.
	tail, join []byte
}

// maxWrapLine is the longest line that begins a segment: 76 characters,
// CR and LF.
const maxWrapLine = 78

// wrapScan joins the wrapped lines of q, the clean bytes of this write
// from clean offset prev, adds their matches to the intervals, and returns
// the earliest clean offset a pending match holds back (the end of q if
// none).
func (w *Writer) wrapScan(q []byte, prev int64, final bool) int64 {
	v := &w.wv
	end := prev + int64(len(q))
	i := 0
	if v.inSeg {
		i = v.read(w, q, prev, 0)
	}
	if i < len(q) { // w.cls is q's
		lfs := w.cls.lfs
		if k := nextBit(lfs, 0); k >= i {
			// The first line feed may end a line that began in an
			// earlier write.
			i = v.first(w, q, prev, k, v.line, k+1)
		}
		for i < len(q) {
			k := nextMarked(w.cls.ends, w.cls.endsIn, i)
			if k < 0 {
				break
			}
			// The line feed before: 64 or 76 bytes back, or one more
			// with a CR.
			st := prev + int64(k) - 64
			switch {
			case q[k-65] == '\n':
			case q[k-66] == '\n':
				st--
			case q[k-77] == '\n':
				st -= 12
			default:
				st -= 13
			}
			i = v.first(w, q, prev, k, st, k+1)
		}
		if k := lastBit(lfs); k >= 0 {
			v.line = max(v.line, prev+int64(k)+1)
		}
	}
	if !final && !v.inSeg && len(q) > 0 && q[len(q)-1] == '\r' {
		v.tentative(q, prev)
	}
	v.keepTail(q)
	if final {
		v.endSegment(w)
		return end
	}
	if !v.inSeg {
		return end
	}
	v.scanPiece(w, false)
	return min(end, v.pending())
}

// first begins a segment if the line from clean offset st to the line
// feed at q[k] is a full line of base64, reads the segment from the byte
// after it, and returns where to go on looking for line ends: where the
// segment ended, or next.
func (v *wrapView) first(w *Writer, q []byte, prev int64, k int, st int64, next int) int {
	e := prev + int64(k)
	if n := e - st; (n == 65 || n == 77) && v.bytes(q, prev, e-1, e)[0] == '\r' {
		e--
	}
	if !v.begin(q, prev, st, e) {
		return next
	}
	v.n, v.cr, v.line = 0, false, prev+int64(k)+1
	return v.read(w, q, prev, k+1)
}

// tentative begins a segment with the line that q ends with its CR, if
// it is a full line of base64: the plain scan no longer holds back the
// end of the line, which a match across the line break may begin with.
// If a line feed does not follow, the segment ends with the line, and its
// matches are the plain scan's.
func (v *wrapView) tentative(q []byte, prev int64) {
	if v.begin(q, prev, v.line, prev+int64(len(q))-1) {
		v.n, v.cr = v.width, true
	}
}

// begin begins a segment with the clean bytes [st, e) if they are a full
// line of base64 (without its line break).
func (v *wrapView) begin(q []byte, prev, st, e int64) bool {
	if n := e - st; n != 64 && n != 76 {
		return false
	}
	line := v.bytes(q, prev, st, e)
	for _, c := range line {
		if !b64Class[c] {
			return false
		}
	}
	for j, c := range line {
		o := st + int64(j)
		v.emit(c, o, o+1, true)
	}
	v.inSeg, v.width = true, len(line)
	return true
}

// bytes returns the clean bytes [a, b), which lie in the tail and q.
func (v *wrapView) bytes(q []byte, prev, a, b int64) []byte {
	if a >= prev {
		return q[a-prev : b-prev]
	}
	t := v.tail[len(v.tail)-int(prev-a):]
	if b <= prev {
		return t[:b-a]
	}
	v.join = append(append(v.join[:0], t...), q[:b-prev]...)
	return v.join
}

// read reads the bytes of the segment's current line from q[i] on, and
// returns where the segment ended or len(q).
func (v *wrapView) read(w *Writer, q []byte, prev int64, i int) int {
	for ; i < len(q); i++ {
		c, o := q[i], prev+int64(i)
		switch {
		case c == '\n':
			v.line = o + 1
			if v.n != v.width {
				v.endSegment(w)
				return i + 1
			}
			v.n, v.cr = 0, false
		case c == '\r' && !v.cr && v.n == v.width:
			v.cr = true
		case b64Class[c] && !v.cr && v.n < v.width:
			v.emit(c, o, o+1, true)
			v.n++
		default:
			v.endSegment(w)
			return i
		}
	}
	return i
}

func (v *wrapView) endSegment(w *Writer) {
	if v.inSeg {
		v.inSeg = false
		v.end(w)
	}
}

// keepTail keeps the last clean bytes, for a line that goes on in the next
// write.
func (v *wrapView) keepTail(q []byte) {
	if len(q) >= maxWrapLine {
		v.tail = append(v.tail[:0], q[len(q)-maxWrapLine:]...)
		return
	}
	v.tail = append(v.tail, q...)
	if n := len(v.tail); n > maxWrapLine {
		v.tail = v.tail[:copy(v.tail, v.tail[n-maxWrapLine:])]
	}
}
