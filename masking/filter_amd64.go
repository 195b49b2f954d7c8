//go:build amd64 && !purego

package masking

import "golang.org/x/sys/cpu"

// filterGroups is filterGroupsGo, vectorised where the processor can: the
// long windows of a group hashed four (AVX2) or eight (AVX-512) at a time,
// the short ones eight or sixteen at a time, their first filter levels
// read with gathers (and both bits of a short window tested, so fewer
// false hits).
//
// With cls, sized for cq, the AVX-512 version also classifies cq's first
// len(out) 64-byte blocks for the views (byteClasses) in the same loop,
// where the work hides behind the gathers, and returns how many it did;
// the others classify none.
func (m *matcher) filterGroups(q []byte, out []uint64, cq []byte, cls *byteClasses) int {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ:
		if cls != nil && cpu.X86.HasAVX512BW && len(out) > 0 {
			m.filterGroupsClasses(q, out, cq, cls)
			return len(out)
		}
		m.filterGroupsVector(filterGroups512, q, out)
	case cpu.X86.HasAVX2:
		m.filterGroupsVector(filterGroupsAVX2, q, out)
	default:
		m.filterGroupsGo(q, out)
	}
	return 0
}

// filterGroupsClasses calls filterGroupsAVX512 with the classes of cq's
// first len(out) blocks to set in cls.
func (m *matcher) filterGroupsClasses(q []byte, out []uint64, cq []byte, cls *byteClasses) {
	_ = q[64*len(out)+7]
	_ = cq[64*len(out)-1]
	_ = cls.h[len(out)-1]
	var short *uint64
	if m.ss != 0 {
		short = &m.short.bits[0]
	}
	filterGroupsAVX512(&q[0], len(out), &out[0], &m.long.bits[0], m.long.mask,
		short, uint64(m.short.sshift-32), m.ss, &cq[0], &cls.h[0], uintptr(len(cls.h))*8)
}

// filterGroups512 is filterGroupsAVX512 without classes.
func filterGroups512(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int) {
	filterGroupsAVX512(q, groups, out, long, lmask, short, sshift, ss, nil, nil, 0)
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

// filterGroupsAVX512 is filterGroupsAVX2 with AVX-512 (F and DQ). With
// cls not nil (and AVX-512 BW) it also sets the classes of the groups
// 64-byte blocks at cq, as classesAVX2 does, in the words at cls (h),
// cls + stride (jc), + 2*stride (lfs) and + 4*stride (crs), stride in
// bytes.
//
//go:noescape
func filterGroupsAVX512(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int, cq *byte, cls *uint64, stride uintptr)

// filterGroupsAVX2 sets out[g] for each of the groups at q[64g:], which
// has 72 bytes, as filterGroupsGo does but with both bits of each short
// window tested. It needs AVX2.
//
//go:noescape
func filterGroupsAVX2(q *byte, groups int, out *uint64, long *uint64, lmask uint64, short *uint64, sshift uint64, ss int)
