//go:build !amd64 || purego

package masking

// filterGroups is filterGroupsGo where there is no vectorised version; it
// classifies none of cq's blocks (see the amd64 version).
func (m *matcher) filterGroups(q []byte, out []uint64, cq []byte, cls *byteClasses) int {
	m.filterGroupsGo(q, out)
	return 0
}
