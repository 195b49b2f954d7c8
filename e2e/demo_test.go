package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs `chaperone demo` as the README's first command does.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + dir}
	r := chaperone(t, dir, env, "demo", "--out", dir)
	if r.code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout + r.stderr
	if strings.Contains(out, "FAIL") {
		t.Errorf("demo reported a failed check:\n%s", out)
	}
	// The job printed its credentials; what shows is the mask.
	if c := strings.Count(out, "***"); c < 6 {
		t.Errorf("demo log shows %d masks, want ≥ 6:\n%s", c, out)
	}
	// No credential shape survives: Vault and GitHub tokens, or a
	// DB_PASSWORD= line with anything but the mask.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`hvs\.[A-Za-z0-9]{8,}`),
		regexp.MustCompile(`ghs_[A-Za-z0-9]{8,}`),
		regexp.MustCompile(`DB_PASSWORD=[^*\s]`),
	} {
		if m := re.FindString(out); m != "" {
			t.Errorf("demo output contains %q", m[:min(len(m), 8)])
		}
	}
	for _, want := range []string{"revoked", "cosign verify-blob-attestation", ".sigstore.json"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
