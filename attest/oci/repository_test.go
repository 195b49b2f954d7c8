package oci_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestAttestationRepository stores a bundle for an image and for the job
// subject in a separate attestation repository (with and without the
// referrers API) and finds both there, and not in the image's repository.
func TestAttestationRepository(t *testing.T) {
	for _, referrersAPI := range []bool{true, false} {
		srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(nullLogger())))
		host := strings.TrimPrefix(srv.URL, "http://")
		ctx := context.Background()
		attRepo := host + "/org/attestations"
		inRepo := oci.WithRepository(attRepo)

		img, _ := random.Image(128, 1)
		tag, _ := name.ParseReference(host + "/org/app:1.0")
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		subject, err := oci.Resolve(ctx, tag.String())
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		privPEM, pubPEM, _ := sign.GenerateKey()
		kp, _ := sign.KeypairFromPEM(privPEM, nil)
		st, _ := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(attesttest.RunURI), subject}, attesttest.JobPredicate())
		b, err := sign.Statement(ctx, st, kp, sign.StatementOptions{})
		if err != nil {
			t.Fatal(err)
		}
		image := subject.Name + "@" + d.String()
		ref, err := oci.Attach(ctx, b, image, "", inRepo)
		if err != nil {
			t.Fatalf("referrers API %v: Attach to the repository: %v", referrersAPI, err)
		}
		if !strings.HasPrefix(ref, attRepo+"@sha256:") {
			t.Errorf("referrer %s is not in %s", ref, attRepo)
		}
		// Twice: the referrer is the same manifest except for its creation
		// time; the legacy .att image gains no second copy of the envelope.
		if _, err := oci.Attach(ctx, b, image, "", inRepo); err != nil {
			t.Fatal(err)
		}

		if _, atts, err := oci.Fetch(ctx, tag.String()); err != nil || len(atts) != 0 {
			t.Errorf("referrers API %v: the image's own repository has %d attestations (%v), want none", referrersAPI, len(atts), err)
		}
		got, atts, err := oci.Fetch(ctx, tag.String(), inRepo)
		if err != nil || len(atts) == 0 || got.Digest["sha256"] != d.Hex {
			t.Fatalf("referrers API %v: Fetch in the repository: %+v, %d attestations, %v", referrersAPI, got, len(atts), err)
		}
		dg := attest.Digest{Algorithm: "sha256", Hex: d.Hex}
		for _, a := range atts {
			if !strings.HasPrefix(a.Referrer, attRepo+"@") || string(a.Bundle) != string(b) {
				t.Errorf("fetched %s, want a referrer in %s holding the bundle", a.Referrer, attRepo)
			}
			if _, err := verify.Bundle(a.Bundle, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: &dg}); err != nil {
				t.Errorf("fetched bundle does not verify: %v", err)
			}
		}

		// cosign v2's COSIGN_REPOSITORY shape: sha256-<hex>.att in the
		// attestation repository, one DSSE layer.
		att, err := remote.Image(mustTag(t, attRepo+":sha256-"+d.Hex+".att"))
		if err != nil {
			t.Fatalf("the .att image: %v", err)
		}
		m, err := att.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.dsse.envelope.v1+json" ||
			m.Layers[0].Annotations["predicateType"] != attest.PredicateTypeJob {
			t.Errorf(".att manifest layers %+v, want one DSSE envelope with the predicate type", m.Layers)
		}

		// The job subject, found by its digest.
		jobRef, err := oci.AttachJob(ctx, b, attesttest.RunURI, "", inRepo)
		if err != nil {
			t.Fatalf("AttachJob: %v", err)
		}
		jd := attest.JobSubjectDigest(attesttest.RunURI)
		jatts, err := oci.FetchDigest(ctx, jd.String(), inRepo)
		if err != nil || len(jatts) != 1 || jatts[0].Referrer != jobRef {
			t.Errorf("FetchDigest(job subject) = %d attestations, %v; want %s", len(jatts), err, jobRef)
		}
		if _, err := oci.AttachJob(ctx, b, "https://example.com/another/run", "", inRepo); err == nil || !strings.Contains(err.Error(), "no subject with the job subject's digest") {
			t.Errorf("AttachJob for a run the bundle does not name: %v", err)
		}
		if _, err := oci.AttachJob(ctx, b, attesttest.RunURI, ""); err == nil {
			t.Error("AttachJob without a repository succeeded")
		}

		// List finds every job once, by its tag, whatever the registry.
		var listed []string
		for st := range oci.List(ctx, inRepo) {
			data, err := st.Read()
			if err != nil || string(data) != string(b) {
				t.Errorf("referrers API %v: List yields %s: %v", referrersAPI, st.Name, err)
			}
			listed = append(listed, st.Name)
		}
		if len(listed) != 1 || !strings.HasSuffix(listed[0], ":chaperone-job-"+jd.Hex) {
			t.Errorf("referrers API %v: listed %v, want the one job", referrersAPI, listed)
		}
		for st := range oci.List(ctx, oci.WithRepository(host+"/org/none")) {
			if _, err := st.Read(); err == nil {
				t.Errorf("listing a repository that does not exist yields %s", st.Name)
			}
		}
		srv.Close()
	}
}

func TestParseRepository(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com/org/attestations": "registry.example.com/org/attestations",
		"127.0.0.1:5000/attestations":           "127.0.0.1:5000/attestations",
		"localhost/a":                           "localhost/a",
	} {
		if got, err := oci.ParseRepository(in); err != nil || got != want {
			t.Errorf("ParseRepository(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "attestations", "org/attestations", "registry.example.com", "registry.example.com/",
		"registry.example.com/org/att:latest", "registry.example.com/org/att@sha256:00", "registry.example.com/Org", "referrer"} {
		if got, err := oci.ParseRepository(in); err == nil {
			t.Errorf("ParseRepository(%q) = %q, want an error", in, got)
		}
	}
}

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// TestAttestationRepositoryKeylessAnnotations: a keyless bundle's
// certificate and RFC 3161 timestamp go into the .att layer's annotations,
// where cosign v2 reads them.
func TestAttestationRepositoryKeylessAnnotations(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nullLogger())))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	img, _ := random.Image(64, 1)
	tag, _ := name.ParseReference(host + "/org/app:1.0")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	subject, err := oci.Resolve(ctx, tag.String())
	if err != nil {
		t.Fatal(err)
	}
	privPEM, _, _ := sign.GenerateKey()
	kp, _ := sign.KeypairFromPEM(privPEM, nil)
	st, _ := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(attesttest.RunURI), subject}, attesttest.JobPredicate())
	b, err := sign.Statement(ctx, st, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Attach does not verify: give the bundle a (self-signed) certificate
	// and a timestamp in place of its key hint.
	certDER := selfSignedCert(t)
	tsDER := []byte("not a real TimeStampResp")
	b = attesttest.EditBundle(t, b, func(m map[string]any) {
		m["verificationMaterial"] = map[string]any{
			"certificate":               map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(certDER)},
			"timestampVerificationData": map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(tsDER)}}},
		}
	})
	d := subject.Digest["sha256"]
	if _, err := oci.Attach(ctx, b, subject.Name+"@sha256:"+d, "", oci.WithRepository(host+"/org/attestations")); err != nil {
		t.Fatal(err)
	}
	att, err := remote.Image(mustTag(t, host+"/org/attestations:sha256-"+d+".att"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := att.Manifest()
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf(".att manifest %+v, %v", m, err)
	}
	ann := m.Layers[0].Annotations
	if block, _ := pem.Decode([]byte(ann["dev.sigstore.cosign/certificate"])); block == nil || !bytes.Equal(block.Bytes, certDER) {
		t.Errorf("certificate annotation %q, want the bundle's certificate as PEM", ann["dev.sigstore.cosign/certificate"])
	}
	var ts struct{ SignedRFC3161Timestamp []byte }
	if err := json.Unmarshal([]byte(ann["dev.sigstore.cosign/rfc3161timestamp"]), &ts); err != nil || !bytes.Equal(ts.SignedRFC3161Timestamp, tsDER) {
		t.Errorf("timestamp annotation %q (%v), want the bundle's timestamp", ann["dev.sigstore.cosign/rfc3161timestamp"], err)
	}
}

func selfSignedCert(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, EmailAddresses: []string{"ci@example.com"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
