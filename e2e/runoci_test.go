package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
)

// TestRunAttachesToImage declares an image as a subject with
// attest.oci: referrers; `chaperone run` resolves it to its digest, signs,
// and attaches the bundle in a real docker-registry, where cosign and
// `chaperone verify --oci` find and accept it.
func TestRunAttachesToImage(t *testing.T) {
	registryBin := dockerRegistry(t)
	cosignBin := cosign(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	host := startRegistry(t, registryBin, dir)
	tag, img := pushRandomImage(t, ctx, host+"/team/service:1.0")
	digest, _ := img.Digest()
	ref := host + "/team/service@" + digest.String()

	ds := startDevstack(t, "github")
	cfgText := regexp.MustCompile(`(?m)^  output: .*$`).ReplaceAllString(readFile(t, ds.env["CHAPERONE_CONFIG"]),
		"  output: chaperone.sigstore.json\n  oci: referrers\n  subjects: [{image: \""+tag.String()+"\"}]")
	cfg := filepath.Join(dir, "chaperone.yml")
	writeFile(t, cfg, cfgText)
	r := chaperone(t, dir, ds.environ(), "run", "--config", cfg, "--", "true")
	if r.code != 0 {
		t.Fatalf("run exit %d:\n%s", r.code, r.stderr)
	}
	pub := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]
	v := chaperone(t, dir, nil, "verify", "--oci", ref, "--key", pub)
	if v.code != 0 {
		t.Errorf("chaperone verify --oci: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	root := emptyTrustedRoot(t, cosignBin, dir)
	out, err := exec.Command(cosignBin, "verify-attestation", "--new-bundle-format", "--key", pub, "--insecure-ignore-tlog",
		"--trusted-root", root, "--type", attest.PredicateTypeJob, ref).CombinedOutput()
	if err != nil {
		t.Errorf("cosign verify-attestation rejected the bundle run attached:\n%s", out)
	}
}
