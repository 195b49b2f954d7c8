package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// ForStatement verifies a bundle of exactly the statement given, signed as
// the Signing says, and refuses a Signing that names no signer or two.
func TestForStatement(t *testing.T) {
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := verify.ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	stmt, _ := attesttest.Statement(t)
	bundle, err := sign.Statement(context.Background(), stmt, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.ForStatement(stmt, verify.Signing{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(bundle)
	if err != nil || !res.Verified || res.MatchedSubject == nil {
		t.Fatalf("the bundle of the statement: %+v, %v", res, err)
	}

	// A bundle of another statement by the same key names other subjects.
	pred := attesttest.JobPredicate()
	pred.Job.RunURI += "/other"
	st, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(pred.Job.RunURI)}, pred)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = v.Verify(b)
	wantFailure(t, res, err, verify.CheckSubject)

	for _, tc := range []struct {
		s    verify.Signing
		want string
	}{
		{verify.Signing{}, "no signer given"},
		{verify.Signing{Key: key, Issuer: "https://issuer.example"}, "not both"},
		{verify.Signing{Issuer: "https://issuer.example"}, "needs the trusted material"},
		{verify.Signing{Key: key, TSA: true}, "needs the trusted material"},
	} {
		if _, err := verify.ForStatement(stmt, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ForStatement(%+v): %v, want %q", tc.s, err, tc.want)
		}
	}
	if _, err := verify.ForStatement([]byte(`{"_type":"x"}`), verify.Signing{Key: key}); err == nil {
		t.Error("a verifier for a non-statement")
	}
}
