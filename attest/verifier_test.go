package attest

import (
	"sync"
	"testing"
)

// TestVerifierReusedConcurrently verifies many bundles with one Verifier
// from several goroutines (run with -race), and a tampered one among them.
func TestVerifierReusedConcurrently(t *testing.T) {
	bundles, pub, artifact := benchBundles(t, 16)
	v, err := NewVerifier(VerifyOptions{PublicKeyPEM: pub, ArtifactDigest: &artifact, Policy: Policy{RequireOutcome: OutcomeSuccess}})
	if err != nil {
		t.Fatal(err)
	}
	bad := editBundle(t, bundles[3], func(m map[string]any) { envelope(m)["payloadType"] = "application/json" })
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
