//go:build !amd64 || purego

package masking

// filterGroups is filterGroupsGo where there is no vectorised version.
func (m *matcher) filterGroups(q []byte, out []uint64) { m.filterGroupsGo(q, out) }
