package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Two jobs' attestations make one identity's report; a tampered copy is
// rejected, listed, and makes the exit status 1.
func TestReport(t *testing.T) {
	ds := startDevstack(t, "github")
	bundles := jobBundles(t, ds, 0)
	key := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]
	r := chaperone(t, bundles, nil, "report", bundles, "--key", key, "--format", "json")
	var rep struct {
		Identities []struct {
			Subject string `json:"subject"`
			Jobs    int    `json:"jobs"`
			Grants  []struct {
				Scope   string `json:"scope"`
				Issued  int    `json:"issued"`
				Revoked int    `json:"revoked"`
			} `json:"grants"`
		} `json:"identities"`
		Rejected  []struct{ Name string } `json:"rejected"`
		Anomalies *int                    `json:"anomalies"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || len(rep.Identities) != 1 || rep.Identities[0].Jobs != 2 ||
		rep.Anomalies == nil || *rep.Anomalies != 0 {
		t.Fatalf("report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	revokedDB := 0
	for _, g := range rep.Identities[0].Grants {
		if g.Issued != 2 {
			t.Errorf("grant %+v", g)
		}
		if g.Scope == "db" {
			revokedDB = g.Revoked
		}
	}
	if len(rep.Identities[0].Grants) < 2 || revokedDB != 2 {
		t.Errorf("grants %+v", rep.Identities[0].Grants)
	}
	// A copy with another payload is rejected.
	data, _ := os.ReadFile(filepath.Join(bundles, "job1.sigstore.json"))
	var b map[string]any
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	env["payload"] = "e30=" // {}
	forged, _ := json.Marshal(b)
	if err := os.WriteFile(filepath.Join(bundles, "forged.sigstore.json"), forged, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.html")
	r = chaperone(t, bundles, nil, "report", bundles, "--key", key, "--format", "html", "--out", out)
	page, err := os.ReadFile(out)
	if r.code != 1 || err != nil || !strings.Contains(string(page), "Rejected bundles") || !strings.Contains(string(page), "2 job(s)") ||
		!strings.Contains(r.stderr, "1 of 3 bundles rejected") {
		t.Errorf("forged bundle: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	// A job given twice is counted once.
	if err := os.Remove(filepath.Join(bundles, "forged.sigstore.json")); err != nil {
		t.Fatal(err)
	}
	r = chaperone(t, bundles, nil, "report", bundles, filepath.Join(bundles, "job1.sigstore.json"), "--key", key)
	if r.code != 1 || !strings.Contains(r.stdout, "already counted") || !regexp.MustCompile(`jobs 2 `).MatchString(r.stdout) {
		t.Errorf("duplicate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Nothing to report is not a success.
	if r := chaperone(t, bundles, nil, "report", t.TempDir(), "--key", key); r.code != 1 || !strings.Contains(r.stderr, "no bundle found") {
		t.Errorf("empty directory: exit %d\n%s", r.code, r.stderr)
	}
	assertOneLineError(t, chaperone(t, bundles, nil, "report", bundles), 2, "no signer given", nil)
	assertOneLineError(t, chaperone(t, bundles, nil, "report", bundles, "--key", key, "--stale-after", "ninety"), 2, "--stale-after", nil)
}

// Two jobs of one identity, the second with --stale-after shorter than
// the silence between them: the table marks the stale anomaly and names
// the second job's bundle; the default tolerates it.
func TestReportAnomalies(t *testing.T) {
	ds := startDevstack(t, "github")
	bundles := jobBundles(t, ds, 1100*time.Millisecond)
	key := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]
	r := chaperone(t, bundles, nil, "report", bundles, "--key", key, "--stale-after", "1s")
	if r.code != 0 || !regexp.MustCompile(`anomalies 1\n`).MatchString(r.stdout) || !regexp.MustCompile(`! stale +\S+ +\S*job2\.sigstore\.json +silent `).MatchString(r.stdout) {
		t.Errorf("--stale-after 1s: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := chaperone(t, bundles, nil, "report", bundles, "--key", key); r.code != 0 || !strings.Contains(r.stdout, "anomalies 0\n") || strings.Contains(r.stdout, "! ") {
		t.Errorf("default: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// jobBundles runs two jobs, pause apart, and returns a directory holding
// their bundles as job1.sigstore.json and job2.sigstore.json.
func jobBundles(t *testing.T, ds *devstack, pause time.Duration) string {
	t.Helper()
	bundles := t.TempDir()
	for i := range 2 {
		if i > 0 {
			time.Sleep(pause)
		}
		dir := t.TempDir()
		if r := chaperone(t, dir, ds.environ(), "run", "--", "true"); r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
		}
		data, err := os.ReadFile(filepath.Join(dir, "chaperone.sigstore.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundles, fmt.Sprintf("job%d.sigstore.json", i+1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bundles
}
