package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/sign"
)

// TestCosignKeySignsThroughChaperone signs with an encrypted key made by
// cosign generate-key-pair (password from CHAPERONE_KEY_PASSWORD) through
// sign.NewSigner, and checks cosign and chaperone accept the bundle, then
// the policy flags and tampering.
func TestCosignKeySignsThroughChaperone(t *testing.T) {
	cosignBin := cosign(t)
	ctx := context.Background()
	dir := t.TempDir()
	priv, pub := cosignKeyPair(t, cosignBin, dir, "s3cret pass")

	if _, err := sign.NewSigner(ctx, "key:"+priv, sign.Options{Getenv: envMap(nil)}); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("signing with an encrypted key and no password: %v, want a wrong-password error", err)
	}
	signer, err := sign.NewSigner(ctx, "key:"+priv, sign.Options{Getenv: envMap(map[string]string{
		"CHAPERONE_KEY_PASSWORD": "s3cret pass", "COSIGN_PASSWORD": "not this one"})})
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	runURI := "https://github.com/acme/widgets/actions/runs/44/attempts/1"
	digest := attest.JobSubjectDigest(runURI).String()
	write := func(name string, revoked bool) string {
		stmt, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(runURI)}, testPredicate(runURI, revoked))
		if err != nil {
			t.Fatal(err)
		}
		b, err := signer.SignStatement(ctx, stmt)
		if err != nil {
			t.Fatalf("SignStatement: %v", err)
		}
		path := filepath.Join(dir, name)
		if err := attest.WriteBundle(path, b); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.sigstore.json", true)
	unrevoked := write("unrevoked.sigstore.json", false)

	emptyRoot := emptyTrustedRoot(t, cosignBin, dir)
	cosignVerify := func(bundle string) (bool, string) {
		out, err := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--insecure-ignore-tlog",
			"--trusted-root", emptyRoot, "--key", pub, "--bundle", bundle, "--type", attest.PredicateTypeJob,
			"--digest", strings.TrimPrefix(digest, "sha256:"), "--digestAlg", "sha256").CombinedOutput()
		return err == nil, string(out)
	}
	if ok, out := cosignVerify(good); !ok {
		t.Errorf("cosign rejected a bundle signed with its own key:\n%s", out)
	}
	// Flags before and after the bundle; several bundles at once.
	for _, args := range [][]string{
		{"verify", good, "--key", pub, "--digest", digest},
		{"verify", "--key", pub, "--digest", digest, good},
		{"verify", "--key", pub, good, unrevoked, "--digest", digest},
	} {
		if r := chaperone(t, dir, nil, args...); r.code != 0 {
			t.Errorf("chaperone %v: exit %d\n%s", args, r.code, r.stderr)
		}
	}

	// Policy: the unrevoked vault grant fails --require-revoked, named.
	r := chaperone(t, dir, nil, "verify", unrevoked, "--key", pub, "--digest", digest, "--require-revoked")
	if r.code != 1 || !strings.Contains(r.stderr, `requireRevoked`) || !strings.Contains(r.stderr, `grants[0] (scope "db", provider vault, principal ci-deploy) was not revoked`) {
		t.Errorf("--require-revoked on an unrevoked grant: exit %d, want 1 naming the grant\n%s", r.code, r.stderr)
	}
	if r := chaperone(t, dir, nil, "verify", good, "--key", pub, "--digest", digest, "--require-revoked",
		"--max-grant-ttl", "15m", "--allow-scope", "db", "--allow-scope", "deploy", "--require-outcome", "success"); r.code != 0 {
		t.Errorf("policy flags on a compliant bundle: exit %d\n%s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-grant-ttl", "5m"}, "was issued for 10m0s, more than 5m0s"},
		{[]string{"--allow-scope", "deploy"}, `scope "db" is not allowed`},
		{[]string{"--require-outcome", "failure"}, `job outcome is "success", want "failure"`},
	} {
		args := append([]string{"verify", good, "--key", pub, "--digest", digest}, tc.args...)
		if r := chaperone(t, dir, nil, args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("chaperone %v: exit %d, want 1 with %q\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
	if r := chaperone(t, dir, nil, "verify", good, "--key", pub, "--digest", digest, "--require-outcome", "great"); r.code != 2 {
		t.Errorf("--require-outcome with an unknown outcome: exit %d, want 2\n%s", r.code, r.stderr)
	}

	// Changing any part of the signed bundle fails both verifiers.
	for _, tc := range []struct {
		what string
		edit func(m map[string]any)
	}{
		{"predicate", func(m map[string]any) { editPayload(t, m, `"scope":"db"`, `"scope":"dc"`) }},
		{"subject", func(m map[string]any) { editPayload(t, m, `"name":"https://github.com`, `"name":"https://gitlab.com`) }},
		{"signature", func(m map[string]any) {
			sig := m["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)
			raw, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
			raw[len(raw)/2] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(raw)
		}},
		{"payload type", func(m map[string]any) { m["dsseEnvelope"].(map[string]any)["payloadType"] = "application/json" }},
	} {
		path := filepath.Join(dir, "tampered-"+strings.ReplaceAll(tc.what, " ", "-")+".json")
		data, _ := os.ReadFile(good)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		tc.edit(m)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := chaperone(t, dir, nil, "verify", path, "--key", pub, "--digest", digest); r.code != 1 {
			t.Errorf("chaperone verify of a bundle with a changed %s: exit %d, want 1\n%s", tc.what, r.code, r.stderr)
		}
		if ok, out := cosignVerify(path); ok {
			t.Errorf("cosign accepted a bundle with a changed %s:\n%s", tc.what, out)
		}
	}
}

// editPayload replaces old by new in the bundle's DSSE payload.
func editPayload(t *testing.T, m map[string]any, old, new string) {
	t.Helper()
	env := m["dsseEnvelope"].(map[string]any)
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), old) {
		t.Fatalf("payload has no %q", old)
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), old, new, 1)))
}
