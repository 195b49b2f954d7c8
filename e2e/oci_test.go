package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/attest/sign"
)

// TestOCIAttachVerifiesWithCosign pushes an image to a real registry
// (Debian's docker-registry, distribution 2.8.2, which has no referrers
// API), signs a job attestation naming it with a key made by cosign,
// attaches the bundle as an OCI referrer (fallback tag scheme), and
// checks that cosign verify-attestation and chaperone verify --oci both
// find and accept it, and reject it with the wrong key.
func TestOCIAttachVerifiesWithCosign(t *testing.T) {
	registryBin := dockerRegistry(t)
	cosignBin := cosign(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	host := startRegistry(t, registryBin, dir)

	// A small image, pushed by tag and attested by digest.
	tag, img := pushRandomImage(t, ctx, host+"/test/app:v1")
	subject, err := oci.Resolve(ctx, tag.String())
	if err != nil {
		t.Fatalf("ResolveImage: %v", err)
	}
	want, _ := img.Digest()
	if subject.Digest["sha256"] != want.Hex || subject.Name != host+"/test/app" {
		t.Fatalf("ResolveImage = %+v, want %s@%s", subject, host+"/test/app", want)
	}
	imageRef := subject.Name + "@sha256:" + subject.Digest["sha256"]

	priv, pub := cosignKeyPair(t, cosignBin, dir, "correct horse")
	signer, err := sign.NewSigner(ctx, "key:"+priv, sign.Options{Getenv: envMap(map[string]string{"COSIGN_PASSWORD": "correct horse"})})
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	runURI := "https://github.com/acme/widgets/actions/runs/43/attempts/1"
	stmt, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(runURI), subject}, testPredicate(runURI, true))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := signer.SignStatement(ctx, stmt)
	if err != nil {
		t.Fatal(err)
	}
	referrer, err := oci.Attach(ctx, bundle, imageRef, attest.PredicateTypeJob)
	if err != nil {
		t.Fatalf("AttachToImage: %v", err)
	}
	t.Logf("attached as %s", referrer)

	// The registry has no referrers API: the fallback tag lists the referrer.
	var index struct {
		Manifests []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/test/app/manifests/sha256-"+subject.Digest["sha256"], nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	doJSON(t, req, &index)
	if len(index.Manifests) != 1 || !strings.HasSuffix(referrer, index.Manifests[0].Digest) || index.Manifests[0].ArtifactType != attest.BundleMediaType {
		t.Errorf("fallback tag index = %+v, want the referrer %s with artifactType %s", index, referrer, attest.BundleMediaType)
	}

	// A bundle that does not name the image is refused before any upload.
	other, _ := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(runURI)}, testPredicate(runURI, true))
	otherBundle, err := signer.SignStatement(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Attach(ctx, otherBundle, imageRef, ""); err == nil || !strings.Contains(err.Error(), "no subject with the image's digest") {
		t.Errorf("attaching a bundle that does not name the image: %v", err)
	}

	emptyRoot := emptyTrustedRoot(t, cosignBin, dir)
	cosignVerify := func(key string) (bool, string) {
		out, err := exec.Command(cosignBin, "verify-attestation", "--new-bundle-format", "--key", key, "--insecure-ignore-tlog",
			"--trusted-root", emptyRoot, "--type", attest.PredicateTypeJob, imageRef).CombinedOutput()
		return err == nil, string(out)
	}
	if ok, out := cosignVerify(pub); !ok {
		t.Errorf("cosign verify-attestation rejected the attached bundle:\n%s", out)
	}
	r := chaperone(t, dir, nil, "verify", "--oci", imageRef, "--key", pub, "--require-revoked", "--format", "json")
	if r.code != 0 {
		t.Errorf("chaperone verify --oci: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Verified bool `json:"verified"`
		Results  []struct {
			Referrer string `json:"referrer"`
			Verified bool   `json:"verified"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("verify --oci --format json: %v\n%s", err, r.stdout)
	}
	if !out.Verified || len(out.Results) != 1 || out.Results[0].Referrer != referrer || !out.Results[0].Verified {
		t.Errorf("verify --oci result %+v, want the one referrer %s verified", out, referrer)
	}
	// By tag, resolved to the same digest; and flags after the argument.
	if r := chaperone(t, dir, nil, "verify", "--oci", tag.String(), "--key", pub); r.code != 0 {
		t.Errorf("chaperone verify --oci by tag: exit %d\n%s", r.code, r.stderr)
	}

	// Another key: both reject.
	_, otherPub := cosignKeyPair(t, cosignBin, filepath.Join(dir, "other"), "")
	if ok, out := cosignVerify(otherPub); ok {
		t.Errorf("cosign verify-attestation accepted the wrong key:\n%s", out)
	}
	if r := chaperone(t, dir, nil, "verify", "--oci", imageRef, "--key", otherPub); r.code != 1 {
		t.Errorf("chaperone verify --oci with the wrong key: exit %d, want 1\n%s", r.code, r.stderr)
	}
	// An image with nothing attached fails with a clear message.
	img2, _ := random.Image(256, 1)
	tag2, _ := name.ParseReference(host + "/test/bare:v1")
	if err := remote.Write(tag2, img2, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	if r := chaperone(t, dir, nil, "verify", "--oci", tag2.String(), "--key", pub); r.code != 1 || !strings.Contains(r.stderr, "no Sigstore bundle is attached") {
		t.Errorf("verify --oci of an image without attestations: exit %d\n%s", r.code, r.stderr)
	}
}

// startRegistry runs docker-registry with its own configuration, on a free
// port of 127.0.0.1 only (never the package's default config, which
// listens on every interface), and returns host:port.
func startRegistry(t *testing.T, bin, dir string) string {
	t.Helper()
	port := freePort(t)
	cfg := `version: 0.1
log: {level: warn, fields: {service: registry}}
storage:
  cache: {blobdescriptor: inmemory}
  filesystem: {rootdirectory: ` + filepath.Join(dir, "registry-data") + `}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:` + port + `
  secret: chaperone-e2e-not-a-secret
  headers: {X-Content-Type-Options: [nosniff]}
`
	cfgPath := filepath.Join(dir, "registry-config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "registry.log")
	startPeer(t, logPath, bin, "serve", cfgPath)
	host := "127.0.0.1:" + port
	waitHTTP(t, "http://"+host+"/v2/", logPath)
	return host
}

// cosignKeyPair runs cosign generate-key-pair in dir with the password and
// returns the private and public key paths.
func cosignKeyPair(t *testing.T, cosignBin, dir, password string) (string, string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cosignBin, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// envMap is a Getenv over a fixed set of variables.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// pushRandomImage pushes a small random image to ref (a tag) and returns
// the parsed reference and the image.
func pushRandomImage(t *testing.T, ctx context.Context, ref string) (name.Reference, v1.Image) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing the image: %v", err)
	}
	return tag, img
}
