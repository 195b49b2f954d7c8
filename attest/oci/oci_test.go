package oci_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// TestAttachAndFetch round-trips a bundle through an in-process registry,
// with the OCI 1.1 referrers API and without it (fallback tag scheme).
func TestAttachAndFetch(t *testing.T) {
	for _, referrersAPI := range []bool{true, false} {
		srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(nullLogger())))
		host := strings.TrimPrefix(srv.URL, "http://")
		ctx := context.Background()

		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		tag, _ := name.ParseReference(host + "/org/app:1.0")
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		subject, err := oci.Resolve(ctx, tag.String())
		if err != nil {
			t.Fatalf("ResolveImage: %v", err)
		}
		d, _ := img.Digest()
		if subject.Name != host+"/org/app" || subject.Digest["sha256"] != d.Hex {
			t.Fatalf("subject %+v, want %s@%s", subject, host+"/org/app", d)
		}

		privPEM, pubPEM, _ := sign.GenerateKey()
		kp, _ := sign.KeypairFromPEM(privPEM, nil)
		st, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(attesttest.RunURI), subject}, attesttest.JobPredicate())
		if err != nil {
			t.Fatal(err)
		}
		b, err := sign.Statement(ctx, st, kp, sign.StatementOptions{})
		if err != nil {
			t.Fatal(err)
		}
		image := subject.Name + "@sha256:" + d.Hex
		if _, err := oci.Attach(ctx, b, tag.String(), ""); err == nil || !strings.Contains(err.Error(), "by digest") {
			t.Errorf("attaching by tag: %v", err)
		}
		if _, err := oci.Attach(ctx, b, image, "https://example.com/other"); err == nil || !strings.Contains(err.Error(), "predicate type") {
			t.Errorf("attaching with a different predicate type: %v", err)
		}
		ref, err := oci.Attach(ctx, b, image, "")
		if err != nil {
			t.Fatalf("referrers API %v: AttachToImage: %v", referrersAPI, err)
		}
		got, atts, err := oci.Fetch(ctx, tag.String())
		if err != nil {
			t.Fatalf("referrers API %v: FetchFromImage: %v", referrersAPI, err)
		}
		if got.Digest["sha256"] != d.Hex || len(atts) != 1 || atts[0].Referrer != ref || atts[0].PredicateType != attest.PredicateTypeJob || string(atts[0].Bundle) != string(b) {
			t.Fatalf("referrers API %v: fetched %+v, %d attestations", referrersAPI, got, len(atts))
		}
		dg := attest.Digest{Algorithm: "sha256", Hex: d.Hex}
		if _, err := verify.Bundle(atts[0].Bundle, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: &dg}); err != nil {
			t.Errorf("the fetched bundle does not verify against the image digest: %v", err)
		}

		// The manifest has the shape cosign reads.
		raw, err := remote.Get(mustDigest(t, ref))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"`, `"dev.sigstore.bundle.content":"dsse-envelope"`,
			`"dev.sigstore.bundle.predicateType":"` + attest.PredicateTypeJob + `"`, `"mediaType":"application/vnd.oci.empty.v1+json"`, `"subject":{`} {
			if !strings.Contains(string(raw.Manifest), want) {
				t.Errorf("referrer manifest lacks %s:\n%s", want, raw.Manifest)
			}
		}
		srv.Close()
	}
}

func mustDigest(t *testing.T, ref string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
