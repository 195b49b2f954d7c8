package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
)

// TestBundleVerifiesWithChaperoneAndCosign signs a job's attestation with
// the devstack key and checks both verifiers accept it, then that both
// reject it after one bit of the payload is flipped.
func TestBundleVerifiesWithChaperoneAndCosign(t *testing.T) {
	cosignBin := cosign(t)
	ds := startDevstack(t, "github")
	dir := t.TempDir()
	r := chaperone(t, dir, ds.environ(), "run", "--summary-file", "summary.json", "--", "true")
	if r.code != 0 {
		t.Fatalf("run exit %d:\n%s", r.code, r.stderr)
	}
	var sum struct {
		JobSubject attest.Subject `json:"jobSubject"`
		Bundle     string         `json:"bundle"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "summary.json"))), &sum); err != nil {
		t.Fatalf("run --summary-file: %v", err)
	}
	digest := sum.JobSubject.Digest["sha256"]
	if len(digest) != 64 {
		t.Fatalf("job subject digest %q", digest)
	}
	bundle := filepath.Join(dir, sum.Bundle)
	pub := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]
	root := emptyTrustedRoot(t, cosignBin, dir)
	verifyBoth := func(path string) (chap result, cos error, cosOut string) {
		chap = chaperone(t, dir, nil, "verify", path, "--key", pub, "--digest", "sha256:"+digest)
		cmd := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--insecure-ignore-tlog",
			"--trusted-root", root, "--key", pub, "--bundle", path, "--type", attest.PredicateTypeJob,
			"--digest", digest, "--digestAlg", "sha256")
		out, err := cmd.CombinedOutput()
		return chap, err, string(out)
	}
	chap, cosErr, cosOut := verifyBoth(bundle)
	if chap.code != 0 {
		t.Errorf("chaperone verify: exit %d\n%s%s", chap.code, chap.stdout, chap.stderr)
	}
	if cosErr != nil {
		t.Errorf("cosign verify-blob-attestation: %v\n%s", cosErr, cosOut)
	}

	tampered := filepath.Join(dir, "tampered.sigstore.json")
	if err := os.WriteFile(tampered, flipPayloadBit(t, bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	chap, cosErr, cosOut = verifyBoth(tampered)
	if chap.code != 1 {
		t.Errorf("chaperone verify of a tampered bundle: exit %d, want 1\n%s", chap.code, chap.stderr)
	}
	if cosErr == nil {
		t.Errorf("cosign accepted a tampered bundle:\n%s", cosOut)
	}

	// A different subject digest is rejected by both as well.
	other := strings.Repeat("0", 64)
	chap = chaperone(t, dir, nil, "verify", bundle, "--key", pub, "--digest", "sha256:"+other)
	if chap.code != 1 {
		t.Errorf("chaperone verify with a wrong digest: exit %d, want 1", chap.code)
	}
}

// flipPayloadBit returns the bundle with one bit of its DSSE payload
// flipped, everything else unchanged.
func flipPayloadBit(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit inside the predicate (a space or letter), keeping it JSON.
	i := strings.Index(string(payload), `"outcome":"success"`)
	if i < 0 {
		t.Fatalf("payload has no outcome field")
	}
	payload[i+len(`"outcome":"`)] ^= 0x01 // 's' → 'r'
	env["payload"] = base64.StdEncoding.EncodeToString(payload)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
