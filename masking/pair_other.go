//go:build !amd64 || purego

package masking

import "bytes"

// indexPair returns the index of the first c0 followed by c1 in b, or -1.
func indexPair(b []byte, c0, c1 byte) int { return bytes.Index(b, []byte{c0, c1}) }
