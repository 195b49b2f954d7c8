package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
)

// TestRunSignsWithCosignKey runs a job whose config signs with a key made
// by `cosign generate-key-pair` (password from COSIGN_PASSWORD); cosign
// verifies the bundle, and `chaperone verify --require-revoked` accepts it
// (every revocable grant was revoked; aws, gcp and azure are expiry-bound).
func TestRunSignsWithCosignKey(t *testing.T) {
	cosignBin := cosign(t)
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	priv, pub := cosignKeyPair(t, cosignBin, dir, "pa55 word")
	cfg := filepath.Join(dir, "chaperone.yml")
	writeFile(t, cfg, regexp.MustCompile(`(?m)^  signer: .*$`).ReplaceAllString(readFile(t, ds.env["CHAPERONE_CONFIG"]), "  signer: key:"+priv))

	r := chaperone(t, dir, ds.environ(), "run", "--config", cfg, "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "attest.signer") {
		t.Errorf("run without the key's password: exit %d, want 125 naming attest.signer\n%s", r.code, r.stderr)
	}
	if n := len(ds.credentials(t)); n != 0 {
		t.Errorf("a signer that cannot sign still let %d credentials be issued", n)
	}
	r = chaperone(t, dir, append(ds.environ(), "COSIGN_PASSWORD=pa55 word"), "run", "--config", cfg, "--summary-file", "summary.json", "--", "true")
	if r.code != 0 {
		t.Fatalf("run exit %d:\n%s", r.code, r.stderr)
	}
	var sum struct {
		JobSubject attest.Subject `json:"jobSubject"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "summary.json"))), &sum); err != nil {
		t.Fatal(err)
	}
	digest := sum.JobSubject.Digest["sha256"]
	root := emptyTrustedRoot(t, cosignBin, dir)
	bundle := filepath.Join(dir, "chaperone.sigstore.json")
	if out, err := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--insecure-ignore-tlog",
		"--trusted-root", root, "--key", pub, "--bundle", bundle, "--type", attest.PredicateTypeJob,
		"--digest", digest, "--digestAlg", "sha256").CombinedOutput(); err != nil {
		t.Errorf("cosign rejected the bundle chaperone run signed with a cosign key:\n%s", out)
	}
	v := chaperone(t, dir, nil, "verify", bundle, "--key", pub, "--digest", "sha256:"+digest,
		"--require-revoked", "--require-outcome", "success", "--max-grant-ttl", "2h")
	if v.code != 0 {
		t.Errorf("verify --require-revoked of a clean run: exit %d\n%s", v.code, v.stderr)
	}
	v = chaperone(t, dir, nil, "verify", bundle, "--key", pub, "--digest", "sha256:"+digest, "--allow-scope", "db")
	if v.code != 1 || !strings.Contains(v.stderr, "repo") {
		t.Errorf("verify --allow-scope db of a run with six scopes: exit %d, want 1 naming another scope\n%s", v.code, v.stderr)
	}
}
