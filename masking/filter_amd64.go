//go:build amd64 && !purego

package masking

import "golang.org/x/sys/cpu"

// filterGroups is filterGroupsGo, vectorised with AVX2 where the processor
// has it: the long windows of a group hashed four at a time, the short
// ones eight at a time, their first filter levels read with gathers (and
// both bits of a short window tested, so fewer false hits).
func (m *matcher) filterGroups(q []byte, out []uint64) {
	if !cpu.X86.HasAVX2 {
		m.filterGroupsGo(q, out)
		return
	}
	m.filterGroupsAVX2(q, out)
}

func (m *matcher) filterGroupsAVX2(q []byte, out []uint64) {
	if len(out) == 0 {
		return
	}
	_ = q[64*len(out)+7]
	var short *uint64
	if m.ss != 0 {
		short = &m.short.bits[0]
	}
	filterGroupsAVX2(&q[0], len(out), &out[0], &m.long.bits[0], m.long.mask,
		short, uint64(m.short.sshift-32), m.ss)
}

// filterGroupsAVX2 sets out[g] for each of the groups at q[64g:], which
// has 72 bytes, as filterGroupsGo does but with both bits of each short
// window tested. It needs AVX2.
//
//go:noescape
func filterGroupsAVX2(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int)
