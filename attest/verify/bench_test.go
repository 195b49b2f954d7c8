package verify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// benchArtifact is the artifact every benchmark bundle attests, so one
// Verifier (one subject) checks them all, as an auditor checking many
// jobs' attestations of one release would.
const benchArtifact = "dist/app.tar.gz contents"

// benchBundles signs n job attestations (distinct runs, one shared
// artifact subject) with a fresh key.
func benchBundles(tb testing.TB, n int) (bundles [][]byte, pubPEM []byte, artifact attest.Digest) {
	tb.Helper()
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		tb.Fatal(err)
	}
	artifact = attest.Digest{Algorithm: "sha256", Hex: attesttest.HexSHA256(benchArtifact)}
	pred := attesttest.JobPredicate()
	for i := range n {
		runURI := fmt.Sprintf("https://github.com/acme/widgets/actions/runs/%d/attempts/1", 1000+i)
		pred.Job.RunURI = runURI
		st, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{
			attest.JobSubject(runURI),
			{Name: "dist/app.tar.gz", Digest: map[string]string{"sha256": artifact.Hex}},
		}, pred)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		bundles = append(bundles, b)
	}
	return bundles, pubPEM, artifact
}

// BenchmarkVerifier verifies key-signed job bundles with one Verifier
// (trusted material and policy loaded once), reporting bundles/s. Run it
// on one core: go test -run '^$' -bench Verifier -cpu 1 ./attest/verify
// (scripts/bench-verify.sh prints it with the CLI's figure).
func BenchmarkVerifier(b *testing.B) {
	bundles, pub, artifact := benchBundles(b, 1000)
	v, err := verify.NewVerifier(verify.Options{PublicKeyPEM: pub, ArtifactDigest: &artifact, Policy: verify.Policy{AllowProviders: []string{"vault", "aws", "github"}, RequireOutcome: attest.OutcomeSuccess}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(bundles[i%len(bundles)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "bundles/s")
}

// TestWriteBenchBundles writes the benchmark's bundles for
// scripts/bench-verify.sh when CHAPERONE_BENCH_DIR is set (N from
// CHAPERONE_BENCH_N, default 1000): NNNN.sigstore.json, key.pub and
// digest (the shared subject, ALG:HEX). It does nothing otherwise.
func TestWriteBenchBundles(t *testing.T) {
	dir := os.Getenv("CHAPERONE_BENCH_DIR")
	if dir == "" {
		t.Skip("CHAPERONE_BENCH_DIR not set: only scripts/bench-verify.sh writes benchmark bundles")
	}
	n := 1000
	if s := os.Getenv("CHAPERONE_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("CHAPERONE_BENCH_N=%q is not a positive number", s)
		}
	}
	bundles, pub, artifact := benchBundles(t, n)
	for i, b := range bundles {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.sigstore.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "digest"), []byte(artifact.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
