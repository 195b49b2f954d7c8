//go:build amd64 && !purego

package masking

import "golang.org/x/sys/cpu"

// filterGroups is filterGroupsGo, vectorised where the processor can: the
// long windows of a group hashed four (AVX2) or eight (AVX-512) at a time,
// the short ones eight or sixteen at a time, their first filter levels
// read with gathers (and both bits of a short window tested, so fewer
// false hits).
func (m *matcher) filterGroups(q []byte, out []uint64) {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ:
		m.filterGroupsVector(filterGroupsAVX512, q, out)
	case cpu.X86.HasAVX2:
		m.filterGroupsVector(filterGroupsAVX2, q, out)
	default:
		m.filterGroupsGo(q, out)
	}
}

// filterGroupsVector calls kernel, filterGroupsAVX2 or filterGroupsAVX512.
func (m *matcher) filterGroupsVector(kernel func(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int), q []byte, out []uint64) {
	if len(out) == 0 {
		return
	}
	_ = q[64*len(out)+7]
	var short *uint64
	if m.ss != 0 {
		short = &m.short.bits[0]
	}
	kernel(&q[0], len(out), &out[0], &m.long.bits[0], m.long.mask,
		short, uint64(m.short.sshift-32), m.ss)
}

// filterGroupsAVX512 is filterGroupsAVX2 with AVX-512 (F and DQ).
//
//go:noescape
func filterGroupsAVX512(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int)

// filterGroupsAVX2 sets out[g] for each of the groups at q[64g:], which
// has 72 bytes, as filterGroupsGo does but with both bits of each short
// window tested. It needs AVX2.
//
//go:noescape
func filterGroupsAVX2(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int)
