package verify_test

import (
	"bytes"
	"testing"

	"github.com/chaperone-ci/chaperone/attest/verify"
)

// FuzzVerify feeds arbitrary bundles to a Verifier: it must never panic,
// and whatever it accepts must carry the statement that was signed (the
// signature covers the payload, so no edit of it may pass).
func FuzzVerify(f *testing.F) {
	bundles, pub, artifact := benchBundles(f, 1)
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pub, ArtifactDigest: &artifact})
	if err != nil {
		f.Fatal(err)
	}
	good, err := v.Verify(bundles[0])
	if err != nil {
		f.Fatal(err)
	}
	want := good.Statement
	f.Add(bundles[0])
	f.Add(bytes.Replace(bundles[0], []byte(`"payloadType"`), []byte(`"payloadtype"`), 1))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := v.Verify(b)
		if err != nil {
			if res.Verified {
				t.Fatal("an error and a verified result")
			}
			return
		}
		if !res.Verified || res.Statement == nil || res.Statement.PredicateType != want.PredicateType ||
			res.Statement.Subject[0].Name != want.Subject[0].Name || res.Predicate == nil ||
			res.Predicate.Job.RunURI != good.Predicate.Job.RunURI {
			t.Fatalf("accepted a bundle whose statement differs from the signed one: %+v", res.Statement)
		}
	})
}
