package masking

// Detector state machines. A trigger found by the scan starts an instance,
// which reads the clean bytes after it, in this write and later ones, one
// phase at a time. Until it commits it masks nothing; some phases hold the
// bytes they read back (they will be masked if it commits), others let
// them through (they stay visible either way). After the commit the
// instance masks what it reads as it streams: its masked run is an
// interval that grows at its end, so nothing is held for it.

const (
	awsKeyLen    = 16 // [A-Z2-7] after AKIA or ASIA, held while pending
	maxPEMHeader = 96 // visible: "RSA PRIVATE KEY-----"
	maxPEMBody   = 64 << 10
	maxPEMFooter = 128
	maxUserinfo  = 256 // user name (visible) and password (held)
)

// phaseRun is the phase of every instance after its commit but PEM's and
// tails': a run of the rule's body bytes.
const phaseRun = 0xff

// An inst is a detector (or tail) instance.
type inst struct {
	kind  ruleKind
	phase uint8
	done  bool
	idx   int32 // rule index, or tail index for kindTail
	hit   int32 // hit counter to count at the commit, -1 once counted
	start int64 // start of the masked run; -1 until the commit
	added int64 // end of the part of the run added to the intervals
	at    int64 // next clean offset to read
	hold  int64 // offset held back from while pending, or -1
	n, f  int32 // counters of the current phase
	hdr   [24]byte
}

// newInst starts the instance of trigger shape d.
func (w *Writer) newInst(d det) inst {
	t := &w.m.det.triggers[d.trig]
	r := &w.m.det.rules[t.rule]
	body := d.st + int64(t.litAt()+len(t.lit))
	in := inst{kind: r.kind, idx: int32(t.rule), hit: int32(r.hit), start: -1, at: body, hold: -1}
	switch r.kind {
	case kindRun:
		// The shape holds the first body byte: committed.
		in.phase = phaseRun
		w.commit(&in, body)
	case kindAWS:
		in.hold = body
	}
	return in
}

// newTail starts the extension of a match ending at en with tail spec t.
func newTail(t uint8, en int64) inst {
	return inst{kind: kindTail, idx: int32(t), hit: -1, start: en, added: en, at: en, hold: -1}
}

func (w *Writer) commit(in *inst, start int64) {
	in.start, in.added, in.hold = start, start, -1
	if in.hit >= 0 {
		w.set.hits[in.hit].Add(1)
		in.hit = -1
	}
}

// covers reports whether in has masked, or is masking, the byte at st.
func (in *inst) covers(st int64) bool {
	return in.start >= 0 && in.start <= st && (st < in.at || !in.done)
}

// step reads the bytes of q (clean offsets [prev, prev+len(q))) from in.at
// until in is done or q ends.
func (w *Writer) step(in *inst, q []byte, prev int64) {
	d := w.m.det
	end := prev + int64(len(q))
	for !in.done && in.at < end {
		if in.phase == phaseRun {
			body := d.rules[in.idx].body
			j := int(in.at - prev)
			for j < len(q) && body[q[j]] {
				j++
			}
			in.at = prev + int64(j)
			in.done = j < len(q)
			continue
		}
		c := q[in.at-prev]
		switch in.kind {
		case kindTail:
			t := &d.tails[in.idx]
			if in.phase == 0 {
				if t.c1 != nil && t.c1[c] && (t.n1 == 0 || int(in.n) < t.n1) {
					in.at++
					in.n++
					continue
				}
				in.phase, in.n = 1, 0
			}
			if t.c2 != nil && t.c2[c] && (t.n2 == 0 || int(in.n) < t.n2) {
				in.at++
				in.n++
				continue
			}
			in.done = true
		case kindAWS:
			if !d.rules[in.idx].pre[c] {
				in.done, in.hold = true, -1
				break
			}
			in.at++
			if in.n++; in.n == awsKeyLen {
				w.commit(in, in.at-awsKeyLen)
				in.phase = phaseRun
			}
		case kindPEM:
			w.stepPEM(in, c)
		case kindUserinfo:
			w.stepUserinfo(in, q, prev)
		}
	}
}

// stepPEM: the rest of the header line (visible), then everything up to
// and including the footer's closing dashes is masked.
func (w *Writer) stepPEM(in *inst, c byte) {
	switch in.phase {
	case 0:
		if !w.m.det.rules[in.idx].pre[c] || in.n >= maxPEMHeader {
			in.done = true
			return
		}
		in.at++
		in.n++
		copy(in.hdr[:], in.hdr[1:])
		in.hdr[len(in.hdr)-1] = c
		if hasSuffix(in.hdr[:], "PRIVATE KEY-----") || hasSuffix(in.hdr[:], "PRIVATE KEY BLOCK-----") {
			w.commit(in, in.at)
			in.phase, in.n, in.f = 1, 0, 0
		}
	case 1: // body: look for "-----END"
		in.at++
		in.n++
		switch {
		case c == '-':
			if in.f < 5 {
				in.f++
			} else if in.f > 5 {
				in.f = 1
			}
		case in.f >= 5 && c == "END"[in.f-5]:
			in.f++
		default:
			in.f = 0
		}
		if in.f == 8 {
			in.phase, in.n, in.f = 2, 0, 0
		} else if in.n > maxPEMBody {
			in.done = true
		}
	case 2: // footer: to its closing dashes
		if c == '\r' || c == '\n' || in.n >= maxPEMFooter {
			in.done = true
			return
		}
		in.at++
		in.n++
		if c != '-' {
			in.f = 0
		} else if in.f++; in.f == 5 {
			in.done = true
		}
	}
}

// stepUserinfo: the user name (visible), ':', the password (held), '@'.
// Each phase reads a run of its class at a time.
func (w *Writer) stepUserinfo(in *inst, q []byte, prev int64) {
	r := &w.m.det.rules[in.idx]
	cl := r.pre
	if in.phase == 1 {
		cl = r.body
	}
	j := int(in.at - prev)
	k := j + min(len(q)-j, maxUserinfo-int(in.n))
	for j < k && cl[q[j]] {
		j++
	}
	in.n += int32(j - int(in.at-prev))
	in.at = prev + int64(j)
	if j == len(q) {
		return // more may come
	}
	switch c := q[j]; {
	case in.phase == 0 && c == ':':
		in.at++
		in.phase, in.n, in.hold = 1, 0, in.at
	case in.phase == 1 && c == '@' && in.n > 0:
		w.commit(in, in.hold)
		in.done = true
	default:
		in.done, in.hold = true, -1
	}
}

func hasSuffix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[len(b)-len(s):]) == s
}
