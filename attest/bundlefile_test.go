package attest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

func TestWriteBundle(t *testing.T) {
	privPEM, pubPEM, err := sign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.KeypairFromPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := attesttest.Statement(t)
	bundle, err := sign.Statement(context.Background(), st, kp, sign.StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, attest.DefaultBundleFile)
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := attest.WriteBundle(path, bundle); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", info.Mode().Perm())
	}
	got, err := attest.ReadBundleFile(path)
	if err != nil || !bytes.Equal(got, bundle) {
		t.Fatalf("read back: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, err := verify.Bundle(got, verify.Options{PublicKeyPEM: pubPEM, ArtifactDigest: attesttest.JobDigest()}); err != nil {
		t.Errorf("written bundle does not verify: %v", err)
	}
	if err := attest.WriteBundle(filepath.Join(dir, "missing", "b.json"), bundle); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
	if _, err := attest.ReadBundleFile(filepath.Join(dir, "nope.json")); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("read missing: %v", err)
	}
}
