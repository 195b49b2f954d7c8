package e2e

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium (scripts/install-tools.sh installs it),
// or CHAPERONE_CHROMIUM.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAPERONE_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (scripts/install-tools.sh installs Debian's package)")
	}
	return p
}

// TestReportPageRenders renders report's HTML page in headless Chromium
// and looks at the screenshot: the identity table's borders, a timeline's
// job and its anomaly (the colours the page's style gives them) are drawn.
// The page is one file with no external assets, so Chromium runs with
// the network off.
func TestReportPageRenders(t *testing.T) {
	browser := chromiumPath(t)
	ds := startDevstack(t, "github")
	bundles := jobBundles(t, ds, 1100*time.Millisecond) // the second job after a silence
	page := filepath.Join(t.TempDir(), "report.html")
	if r := chaperone(t, bundles, nil, "report", bundles, "--key", ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"],
		"--stale-after", "1s", "--format", "html", "--out", page); r.code != 0 {
		t.Fatalf("report: exit %d\n%s", r.code, r.stderr)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,1400", "--screenshot="+shot, "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// The page's style: table borders #ccc; a job (radius 3) #4a7ab0 at
	// 55 % on white; an anomaly (radius 6) #d00. A drawn circle has a solid
	// core of its colour; text and antialiased edges have few such pixels.
	for _, want := range []struct {
		what    string
		r, g, b uint8
		min     int
	}{
		{"identity table borders", 0xcc, 0xcc, 0xcc, 200},
		{"the timeline's job", 155, 182, 212, 15},
		{"the timeline's anomaly", 0xdd, 0x00, 0x00, 30},
	} {
		if n := countColour(img, want.r, want.g, want.b, 6); n < want.min {
			t.Errorf("%s: %d pixels of its colour, want at least %d (screenshot %s)", want.what, n, want.min, shot)
		}
	}
}

// countColour counts the pixels within tol of r, g, b in each channel.
func countColour(img image.Image, r, g, b uint8, tol int) int {
	near := func(x uint32, want uint8) bool {
		d := int(x>>8) - int(want)
		return d >= -tol && d <= tol
	}
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
