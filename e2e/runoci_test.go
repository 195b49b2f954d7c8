package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// TestRunStoresInOCIAttestationRepository runs a job with
// attest.oci: 127.0.0.1:PORT/attestations and an image subject against a
// real docker-registry (no referrers API): the bundle lands in the
// attestation repository, not the image's, for the image digest and for
// the job subject's digest; `chaperone verify --oci IMAGE
// --oci-repository` (or CHAPERONE_OCI_REPOSITORY, or COSIGN_REPOSITORY)
// and stock cosign with COSIGN_REPOSITORY find and accept it, and neither
// finds it without the repository.
func TestRunStoresInOCIAttestationRepository(t *testing.T) {
	registryBin := dockerRegistry(t)
	cosignBin := cosign(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	host := startRegistry(t, registryBin, dir)
	tag, img := pushRandomImage(t, ctx, host+"/team/service:1.0")
	digest, _ := img.Digest()
	ref := host + "/team/service@" + digest.String()
	attRepo := host + "/attestations"

	ds := startDevstack(t, "github")
	cfgText := regexp.MustCompile(`(?m)^  output: .*$`).ReplaceAllString(readFile(t, ds.env["CHAPERONE_CONFIG"]),
		"  output: chaperone.sigstore.json\n  oci: "+attRepo+"\n  subjects: [{image: \""+tag.String()+"\"}]")
	cfg := filepath.Join(dir, "chaperone.yml")
	writeFile(t, cfg, cfgText)
	r := chaperone(t, dir, ds.environ(), "run", "--config", cfg, "--", "true")
	if r.code != 0 {
		t.Fatalf("run exit %d:\n%s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`job subject (sha256:[0-9a-f]{64})`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("run printed no job subject:\n%s", r.stderr)
	}
	jobDigest := m[1]
	pub := ds.env["CHAPERONE_DEVSTACK_PUBLIC_KEY"]

	// chaperone verify: by flag, by either environment variable, and by
	// the job subject's digest; the image's own repository holds nothing.
	if v := chaperone(t, dir, nil, "verify", "--oci", ref, "--oci-repository", attRepo, "--key", pub, "--require-revoked"); v.code != 0 {
		t.Errorf("verify --oci --oci-repository: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	for _, env := range []string{"CHAPERONE_OCI_REPOSITORY", "COSIGN_REPOSITORY"} {
		if v := chaperone(t, dir, []string{env + "=" + attRepo}, "verify", "--oci", tag.String(), "--key", pub); v.code != 0 {
			t.Errorf("verify --oci with %s: exit %d\n%s%s", env, v.code, v.stdout, v.stderr)
		}
	}
	v := chaperone(t, dir, nil, "verify", "--oci-repository", attRepo, "--digest", jobDigest, "--key", pub, "--format", "json")
	if v.code != 0 || !strings.Contains(v.stdout, `"referrer": "`+attRepo+"@sha256:") {
		t.Errorf("verify --oci-repository --digest JOB: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	if v := chaperone(t, dir, nil, "verify", "--oci", ref, "--key", pub); v.code != 1 || !strings.Contains(v.stderr, "no Sigstore bundle is attached") {
		t.Errorf("verify --oci without the repository: exit %d, want 1 (nothing in the image's repository)\n%s", v.code, v.stderr)
	}
	_, otherPub := cosignKeyPair(t, cosignBin, filepath.Join(dir, "other"), "")
	if v := chaperone(t, dir, nil, "verify", "--oci", ref, "--oci-repository", attRepo, "--key", otherPub); v.code != 1 {
		t.Errorf("verify --oci-repository with the wrong key: exit %d, want 1\n%s", v.code, v.stderr)
	}
	if v := chaperone(t, dir, nil, "verify", "--oci", ref, "--oci-repository", "attestations", "--key", pub); v.code != 2 {
		t.Errorf("verify --oci-repository without a registry: exit %d, want 2\n%s", v.code, v.stderr)
	}

	// report reads the whole attestation repository: the job, once (its
	// bundle is attached to the image and to the job subject), verified.
	var rep struct {
		Identities []struct{ Jobs int } `json:"identities"`
		Rejected   []struct{ Name, Reason string }
	}
	rr := chaperone(t, dir, nil, "report", "--oci", attRepo, "--key", pub, "--format", "json")
	if err := json.Unmarshal([]byte(rr.stdout), &rep); rr.code != 0 || err != nil || len(rep.Identities) != 1 || rep.Identities[0].Jobs != 1 || len(rep.Rejected) != 0 {
		t.Errorf("report --oci: exit %d (%v)\n%s%s", rr.code, err, rr.stdout, rr.stderr)
	}
	if rr := chaperone(t, dir, nil, "report", "--oci", attRepo, "--key", otherPub); rr.code != 1 || !strings.Contains(rr.stderr, "1 of 1 bundles rejected") {
		t.Errorf("report --oci with another key: exit %d\n%s", rr.code, rr.stderr)
	}

	// Stock cosign v2 reads COSIGN_REPOSITORY from the sha256-<hex>.att
	// tag (verify-attestation without --new-bundle-format).
	root := emptyTrustedRoot(t, cosignBin, dir)
	cosignVerify := func(repo, key string) (bool, string) {
		cmd := exec.Command(cosignBin, "verify-attestation", "--key", key, "--insecure-ignore-tlog",
			"--trusted-root", root, "--type", attest.PredicateTypeJob, ref)
		cmd.Env = append(os.Environ(), "COSIGN_REPOSITORY="+repo)
		out, err := cmd.CombinedOutput()
		return err == nil, string(out)
	}
	if ok, out := cosignVerify(attRepo, pub); !ok {
		t.Errorf("COSIGN_REPOSITORY=%s cosign verify-attestation rejected the stored bundle:\n%s", attRepo, out)
	}
	if ok, out := cosignVerify(attRepo, otherPub); ok {
		t.Errorf("cosign verify-attestation accepted the wrong key:\n%s", out)
	}
	if ok, out := cosignVerify(host+"/team/service", pub); ok {
		t.Errorf("cosign verify-attestation found an attestation in the image's own repository:\n%s", out)
	}
}
