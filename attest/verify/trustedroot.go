package verify

import (
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/regularfile"
)

// LoadTrustedRoot reads a trusted root file and checks that it parses
// (for Options.TrustedRootJSON).
func LoadTrustedRoot(path string) ([]byte, error) {
	data, err := regularfile.ReadFile(path, attest.MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w", path, err)
	}
	if _, err := ParseTrustedRoot(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// ParseTrustedRoot reads Sigstore trusted root JSON (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1).
func ParseTrustedRoot(data []byte) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root: not a valid Sigstore trusted root: %w", err)
	}
	return tr, nil
}
