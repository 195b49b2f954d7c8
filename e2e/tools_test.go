package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Pinned peer tools, installed by the tests themselves.
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

// Peer tools for keyless signing, cached like cosign.
const (
	fulcioModule          = "github.com/sigstore/fulcio"
	fulcioVersion         = "v1.8.8"
	timestampServerModule = "github.com/sigstore/timestamp-authority/cmd/timestamp-server"
	timestampVersion      = "v1.2.9"
)

// goTools builds each pinned tool once per test process.
var goTools struct {
	sync.Mutex
	built map[string]string
}

// goTool returns the path of a pinned Go tool, building it with go install
// into the tools cache the first time (fulcio and timestamp-server take
// about 45 s each on two cores).
func goTool(t *testing.T, name, module, version string) string {
	t.Helper()
	goTools.Lock()
	defer goTools.Unlock()
	if p, ok := goTools.built[name]; ok {
		return p
	}
	dir := filepath.Join(toolsDir(), name+"-"+version)
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Logf("building %s %s into %s (first run only)", name, version, dir)
		cmd := exec.Command("go", "install", module+"@"+version)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		cmd.Dir = os.TempDir() // outside our module: install the pinned version as is
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go install %s@%s: %v\n%s", module, version, err, out)
		}
	}
	if goTools.built == nil {
		goTools.built = map[string]string{}
	}
	goTools.built[name] = path
	return path
}

// fulcio returns the path of fulcio v1.8.8.
func fulcio(t *testing.T) string { return goTool(t, "fulcio", fulcioModule, fulcioVersion) }

// timestampServer returns the path of timestamp-server v1.2.9.
func timestampServer(t *testing.T) string {
	return goTool(t, "timestamp-server", timestampServerModule, timestampVersion)
}

// dockerRegistry returns the path of Debian's docker-registry (distribution
// 2.8.2), installing the package when the tests run as root with apt-get;
// otherwise the test is skipped with how to install it.
func dockerRegistry(t *testing.T) string {
	t.Helper()
	goTools.Lock()
	defer goTools.Unlock()
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("docker-registry is not installed (apt-get install docker-registry, or scripts/install-tools.sh as root)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("docker-registry is not installed and apt-get is not available")
	}
	t.Log("installing docker-registry (Debian)")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "docker-registry"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %v: %v\n%s", args, err, out)
		}
	}
	p, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry not found after installing it: %v", err)
	}
	return p
}

// emptyTrustedRoot writes, with cosign, the trusted root that lets cosign
// verify key-signed bundles offline, and returns its path.
func emptyTrustedRoot(t *testing.T, cosignBin, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "empty-root.json")
	if out, err := exec.Command(cosignBin, "trusted-root", "create", "--out", path).CombinedOutput(); err != nil {
		t.Fatalf("cosign trusted-root create: %v\n%s", err, out)
	}
	return path
}
