package attest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/chaperone-ci/chaperone/attest/internal/regularfile"
)

// MaxBundleSize is the largest bundle ReadBundleFile (and a verifier) accepts.
const MaxBundleSize = 32 << 20

// BundleMediaType is the media type of the bundles chaperone signs.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// DefaultBundleFile is the conventional file name of a job's bundle.
const DefaultBundleFile = "chaperone.sigstore.json"

// WriteBundle writes b to path atomically: to a temporary file in the same
// directory, synced, made 0644, then renamed over path. A reader never
// sees a partial bundle, and a failed write leaves any old file intact.
func WriteBundle(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing bundle %s: %w", path, err)
	}
	return nil
}

// ReadBundleFile reads a bundle file of at most MaxBundleSize bytes.
func ReadBundleFile(path string) ([]byte, error) {
	b, err := regularfile.ReadFile(path, MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	return b, nil
}
