package verify_test

import (
	"sync"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// TestVerifierReusedConcurrently verifies many bundles with one Verifier
// from several goroutines (run with -race), and a tampered one among them.
func TestVerifierReusedConcurrently(t *testing.T) {
	bundles, pub, artifact := benchBundles(t, 16)
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pub, ArtifactDigest: &artifact, Policy: verify.Policy{RequireOutcome: attest.OutcomeSuccess}})
	if err != nil {
		t.Fatal(err)
	}
	bad := attesttest.EditBundle(t, bundles[3], func(m map[string]any) { attesttest.Envelope(m)["payloadType"] = "application/json" })
	var wg sync.WaitGroup
	errs := make([]error, 4*len(bundles))
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bundles[i%len(bundles)]
			if i == 5 {
				b = bad
			}
			res, err := v.Verify(b)
			if err == nil && (!res.Verified || res.MatchedSubject == nil || res.Signer == nil || res.Signer.Kind != "key") {
				t.Errorf("bundle %d: verified result incomplete: %+v", i, res)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 5) {
			t.Errorf("bundle %d: err %v", i, err)
		}
	}
}
