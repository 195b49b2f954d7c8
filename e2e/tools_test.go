package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Pinned peer tools (DESIGN §10), installed by the tests themselves.
const cosignModule = "github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5"

var cosignOnce struct {
	sync.Once
	path string
	err  error
}

// toolsDir caches built peer binaries across runs: CHAPERONE_TOOLS_DIR,
// or ~/.cache/chaperone/tools.
func toolsDir() string {
	if d := os.Getenv("CHAPERONE_TOOLS_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "chaperone", "tools")
	}
	return filepath.Join(os.TempDir(), "chaperone-tools")
}

// cosign returns the path of cosign v2.6.5, building it (about three
// minutes on two cores) into the tools cache the first time.
func cosign(t *testing.T) string {
	t.Helper()
	cosignOnce.Do(func() {
		dir := filepath.Join(toolsDir(), "cosign-v2.6.5")
		path := filepath.Join(dir, "cosign")
		if _, err := os.Stat(path); err == nil {
			cosignOnce.path = path
			return
		}
		cmd := exec.Command("go", "install", cosignModule)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		cmd.Dir = os.TempDir() // outside our module: install the pinned version as is
		out, err := cmd.CombinedOutput()
		if err != nil {
			cosignOnce.err = err
			t.Logf("go install %s:\n%s", cosignModule, out)
			return
		}
		cosignOnce.path = path
	})
	if cosignOnce.err != nil {
		t.Fatalf("installing cosign: %v", cosignOnce.err)
	}
	return cosignOnce.path
}
