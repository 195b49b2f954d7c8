package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	dir := t.TempDir()
	key := "AKIA" + "IOSFODNN7EXAMPLE"
	workflow := "jobs:\n  x:\n    env:\n      KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n"
	if err := os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{".github/workflows/ci.yml": workflow, "run.sh": "AWS_ACCESS_KEY_ID=" + key + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := chaperone(t, dir, nil, "scan")
	if r.code != 1 || !strings.Contains(r.stdout, ".github/workflows/ci.yml:4:12: long-lived-secret: AWS_SECRET_ACCESS_KEY is a static AWS access key") ||
		!strings.Contains(r.stdout, "run.sh:1:19: static-credential:") || strings.Contains(r.stdout+r.stderr, key) {
		t.Errorf("scan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = chaperone(t, dir, nil, "scan", ".", "--format", "sarif")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []json.RawMessage `json:"results"`
		} `json:"runs"`
	}
	if r.code != 1 || json.Unmarshal([]byte(r.stdout), &log) != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 || strings.Contains(r.stdout, key) {
		t.Errorf("scan --format sarif: exit %d\n%s", r.code, r.stdout)
	}
	if r := chaperone(t, dir, nil, "scan", "--format", "json"); r.code != 1 || !strings.Contains(r.stdout, `"rule": "static-credential"`) || strings.Contains(r.stdout, key) {
		t.Errorf("scan --format json: exit %d\n%s", r.code, r.stdout)
	}
	clean := t.TempDir()
	if r := chaperone(t, clean, nil, "scan", clean, "--format", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("clean tree: exit %d %q", r.code, r.stdout)
	}
	assertOneLineError(t, chaperone(t, dir, nil, "scan", "--format", "xml"), 2, `--format "xml"`, []string{key})
}
