package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/sign"
	"github.com/chaperone-ci/chaperone/attest/verify"
)

// inNetnsEnv marks a test process re-executed inside `unshare -n`.
const inNetnsEnv = "CHAPERONE_E2E_IN_NETNS"

// fulcioConfigTemplate is the Fulcio issuer configuration (GitHub and
// GitLab issuer types) the test fills in.
const fulcioConfigTemplate = "testdata/fulcio-config.template.yaml"

// TestKeylessFulcioTSA signs a job attestation keylessly, fully locally:
// the devstack OIDC issuer mints a GitHub-style token for audience
// sigstore, a real Fulcio v1.8.8 (ephemeral CA, no CT log) certifies an
// ephemeral key for it, a real timestamp-server v1.2.9 dates the signature.
// Both open metrics listeners on every interface, so they, the devstack
// and the signing client run in a private network namespace: the test
// re-executes itself under `unshare -n`. The bundle must verify with
// chaperone and with cosign, and a wrong identity or issuer must be
// rejected by both.
func TestKeylessFulcioTSA(t *testing.T) {
	if os.Getenv(inNetnsEnv) == "" {
		runInNetns(t, "TestKeylessFulcioTSA")
		return
	}
	keylessInNetns(t)
}

// runInNetns prepares the peer tools, then re-runs the named test in a new
// network namespace and reports its outcome.
func runInNetns(t *testing.T, name string) {
	fulcio(t)
	timestampServer(t)
	cosign(t)
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -n is not permitted here (%v: %s); keyless signing needs Fulcio and the TSA in a private network namespace", err, bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.count=1", "-test.timeout=7m")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in the network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("%s in the network namespace: %v", name, err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("%s did not pass in the network namespace", name)
	}
}

func keylessInNetns(t *testing.T) {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	ds := startDevstack(t, "github")
	issuer := ds.env["CHAPERONE_DEVSTACK_ISSUER"]
	if issuer == "" {
		t.Fatal("devstack wrote no CHAPERONE_DEVSTACK_ISSUER")
	}
	tsaURL := startTSA(t, dir)
	fulcioURL := startFulcio(t, dir, issuer)

	var lastToken string
	idToken := func(ctx context.Context, aud string) (string, error) {
		var minted struct {
			Value string `json:"value"`
		}
		postJSON(t, ds.env["CHAPERONE_DEVSTACK_URL"]+"/devstack/token?platform=github&aud="+aud, nil, &minted)
		lastToken = minted.Value
		return minted.Value, nil
	}
	signer, err := sign.NewSigner(ctx, "keyless", sign.Options{IDToken: idToken, FulcioURL: fulcioURL, TSAURL: tsaURL})
	if err != nil {
		t.Fatalf("NewSigner keyless: %v", err)
	}
	if signer.Kind() != sign.KindKeyless || signer.PublicKeyPEM() != nil || len(signer.TrustedRoot()) == 0 {
		t.Fatalf("keyless signer: kind %q, public key %d bytes, trusted root %d bytes", signer.Kind(), len(signer.PublicKeyPEM()), len(signer.TrustedRoot()))
	}
	runURI := "https://github.com/acme/widgets/actions/runs/42/attempts/1"
	stmt, err := attest.NewStatement(attest.PredicateTypeJob, []attest.Subject{attest.JobSubject(runURI)}, testPredicate(runURI, true))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := signer.SignStatement(ctx, stmt)
	if err != nil {
		t.Fatalf("SignStatement: %v", err)
	}
	bundlePath := filepath.Join(dir, attest.DefaultBundleFile)
	rootPath := filepath.Join(dir, "trusted-root.json")
	if err := attest.WriteBundle(bundlePath, bundle); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPath, signer.TrustedRoot(), 0o644); err != nil {
		t.Fatal(err)
	}
	var shape struct {
		VerificationMaterial struct {
			Certificate *struct {
				RawBytes string `json:"rawBytes"`
			} `json:"certificate"`
			TimestampVerificationData struct {
				RFC3161Timestamps []any `json:"rfc3161Timestamps"`
			} `json:"timestampVerificationData"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(bundle, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.VerificationMaterial.Certificate == nil || len(shape.VerificationMaterial.TimestampVerificationData.RFC3161Timestamps) != 1 {
		t.Fatalf("bundle lacks a leaf certificate or one RFC 3161 timestamp:\n%s", bundle)
	}

	// The SAN Fulcio derives from a GitHub token: https://github.com/{job_workflow_ref}.
	claims := jwtClaims(t, lastToken)
	san := "https://github.com/" + claims["job_workflow_ref"].(string)
	sanRegexp := "^" + regexp.QuoteMeta("https://github.com/"+claims["repository"].(string)+"/") + `\.github/workflows/.+@refs/`
	digestHex := attest.JobSubjectDigest(runURI).Hex
	cosignBin := cosign(t)
	verifyBoth := func(identityRegexp, iss string) (chap result, cosOK bool, cosOut string) {
		chap = chaperone(t, dir, nil, "verify", bundlePath, "--certificate-identity-regexp", identityRegexp,
			"--certificate-oidc-issuer", iss, "--trusted-root", rootPath, "--digest", "sha256:"+digestHex, "--format", "json")
		out, err := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--bundle", bundlePath,
			"--trusted-root", rootPath, "--certificate-identity-regexp", identityRegexp, "--certificate-oidc-issuer", iss,
			"--use-signed-timestamps", "--insecure-ignore-tlog", "--insecure-ignore-sct",
			"--type", attest.PredicateTypeJob, "--digest", digestHex, "--digestAlg", "sha256").CombinedOutput()
		return chap, err == nil, string(out)
	}

	chap, cosOK, cosOut := verifyBoth(sanRegexp, issuer)
	if chap.code != 0 {
		t.Errorf("chaperone verify (keyless): exit %d\n%s%s", chap.code, chap.stdout, chap.stderr)
	}
	if !cosOK {
		t.Errorf("cosign verify-blob-attestation (keyless) rejected the bundle:\n%s", cosOut)
	}
	var res verify.Result
	if err := json.Unmarshal([]byte(chap.stdout), &res); err != nil {
		t.Fatalf("verify --format json: %v\n%s", err, chap.stdout)
	}
	if !res.Verified || res.Signer == nil || res.Signer.Certificate == nil || res.Signer.Certificate.SubjectAlternativeName != san ||
		res.Signer.Certificate.Issuer != issuer || len(res.Timestamps) != 1 || res.Timestamps[0].Type != "tsa" {
		t.Errorf("verify result: verified %v, signer %+v, timestamps %+v; want SAN %s, issuer %s, one tsa timestamp", res.Verified, res.Signer, res.Timestamps, san, issuer)
	}
	for _, c := range res.Checks {
		t.Logf("keyless verify: %-14s %s %s", c.Name, c.Verdict, c.Detail)
	}
	if got := res.Signer.Certificate.SourceRepositoryURI; got != "https://github.com/"+claims["repository"].(string) {
		t.Errorf("certificate source repository %q, want the token's repository", got)
	}

	// A wrong identity and a wrong issuer are rejected by both verifiers.
	for _, tc := range []struct{ what, identity, issuer string }{
		{"identity", `^https://github\.com/evil/`, issuer},
		{"issuer", sanRegexp, "https://token.actions.githubusercontent.com"},
	} {
		chap, cosOK, cosOut := verifyBoth(tc.identity, tc.issuer)
		if chap.code != 1 || !strings.Contains(chap.stderr, "signer") {
			t.Errorf("chaperone verify with a wrong %s: exit %d, want 1 naming the signer check\n%s", tc.what, chap.code, chap.stderr)
		}
		if cosOK {
			t.Errorf("cosign accepted a wrong %s:\n%s", tc.what, cosOut)
		}
		t.Logf("wrong %s: chaperone %q; cosign %q", tc.what, lastLine(chap.stderr), lastLine(cosOut))
	}

	// Without the TSA in the trusted root, the certificate (valid for ten
	// minutes) has no trusted time: rejected.
	noTSA, err := sign.TrustedRootFor(ctx, sign.Options{FulcioURL: fulcioURL})
	if err != nil {
		t.Fatal(err)
	}
	noTSAPath := filepath.Join(dir, "no-tsa-root.json")
	if err := os.WriteFile(noTSAPath, noTSA, 0o644); err != nil {
		t.Fatal(err)
	}
	chap = chaperone(t, dir, nil, "verify", bundlePath, "--certificate-identity-regexp", sanRegexp,
		"--certificate-oidc-issuer", issuer, "--trusted-root", noTSAPath, "--digest", "sha256:"+digestHex)
	if chap.code != 2 || !strings.Contains(chap.stderr, "no timestamp authority") {
		t.Errorf("verify with a trusted root lacking the TSA: exit %d, want 2 naming the missing TSA\n%s", chap.code, chap.stderr)
	}

	// The same through `chaperone run`: attest.signer keyless with the
	// private Fulcio and TSA, the trusted root written next to the bundle.
	runDir := t.TempDir()
	cfgText := regexp.MustCompile(`(?m)^  signer: .*$`).ReplaceAllString(readFile(t, ds.env["CHAPERONE_CONFIG"]),
		"  signer: keyless\n  fulcio-url: "+fulcioURL+"\n  tsa-url: "+tsaURL+"\n  trusted-root-output: trusted-root.json")
	runCfg := filepath.Join(runDir, "chaperone.yml")
	writeFile(t, runCfg, cfgText)
	run := chaperone(t, runDir, ds.environ(), "run", "--config", runCfg, "--summary-file", "summary.json", "--", "true")
	if run.code != 0 {
		t.Fatalf("chaperone run with a keyless signer: exit %d\n%s", run.code, run.stderr)
	}
	var sum struct {
		JobSubject attest.Subject `json:"jobSubject"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(runDir, "summary.json"))), &sum); err != nil {
		t.Fatalf("run --summary-file: %v", err)
	}
	chap = chaperone(t, runDir, nil, "verify", "chaperone.sigstore.json", "--certificate-identity-regexp", sanRegexp,
		"--certificate-oidc-issuer", issuer, "--trusted-root", "trusted-root.json", "--digest", "sha256:"+sum.JobSubject.Digest["sha256"])
	if chap.code != 0 {
		t.Errorf("chaperone verify of run's keyless bundle: exit %d\n%s", chap.code, chap.stderr)
	}
	if out, err := exec.Command(cosignBin, "verify-blob-attestation", "--new-bundle-format", "--bundle", filepath.Join(runDir, "chaperone.sigstore.json"),
		"--trusted-root", filepath.Join(runDir, "trusted-root.json"), "--certificate-identity-regexp", sanRegexp, "--certificate-oidc-issuer", issuer,
		"--use-signed-timestamps", "--insecure-ignore-tlog", "--insecure-ignore-sct",
		"--type", attest.PredicateTypeJob, "--digest", sum.JobSubject.Digest["sha256"], "--digestAlg", "sha256").CombinedOutput(); err != nil {
		t.Errorf("cosign rejected run's keyless bundle: %v\n%s", err, out)
	}

	// A trusted root made by cosign from the same chains verifies the bundle too.
	cosRoot := filepath.Join(dir, "cosign-root.json")
	fulcioChain := filepath.Join(dir, "fulcio-chain.pem")
	tsaChain := filepath.Join(dir, "tsa-chain.pem")
	fetchTo(t, fulcioURL+"/api/v1/rootCert", fulcioChain)
	fetchTo(t, tsaURL+"/certchain", tsaChain)
	if out, err := exec.Command(cosignBin, "trusted-root", "create", "--out", cosRoot,
		"--fulcio", "url="+fulcioURL+",certificate-chain="+fulcioChain,
		"--tsa", "url="+tsaURL+",certificate-chain="+tsaChain).CombinedOutput(); err != nil {
		t.Fatalf("cosign trusted-root create: %v\n%s", err, out)
	}
	chap = chaperone(t, dir, nil, "verify", bundlePath, "--certificate-identity", san,
		"--certificate-oidc-issuer", issuer, "--trusted-root", cosRoot, "--digest", "sha256:"+digestHex)
	if chap.code != 0 {
		t.Errorf("chaperone verify with cosign's trusted root: exit %d\n%s", chap.code, chap.stderr)
	}
}

// startTSA runs timestamp-server on a free loopback port and returns its
// timestamp URL.
func startTSA(t *testing.T, dir string) string {
	t.Helper()
	port := freePort(t)
	startPeer(t, filepath.Join(dir, "tsa.log"), timestampServer(t), "serve", "--host", "127.0.0.1", "--port", port,
		"--timestamp-signer", "memory", "--disable-ntp-monitoring")
	u := "http://127.0.0.1:" + port + "/api/v1/timestamp"
	waitHTTP(t, u+"/certchain", filepath.Join(dir, "tsa.log"))
	return u
}

// startFulcio runs fulcio with an ephemeral CA, no CT log, and the shared
// issuer configuration pointed at the devstack issuer.
func startFulcio(t *testing.T, dir, issuer string) string {
	t.Helper()
	tmpl, err := os.ReadFile(fulcioConfigTemplate)
	if err != nil {
		t.Fatalf("reading the Fulcio config template: %v", err)
	}
	cfg := strings.ReplaceAll(string(tmpl), "__GITHUB_ISSUER__", issuer)
	// One issuer serves both platforms' tokens here; the GitLab entry
	// points at an address nothing listens on.
	cfg = strings.ReplaceAll(cfg, "__GITLAB_ISSUER__", "http://127.0.0.1:9/gitlab")
	cfgPath := filepath.Join(dir, "fulcio-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port, grpcPort, metricsPort := freePort(t), freePort(t), freePort(t)
	logPath := filepath.Join(dir, "fulcio.log")
	startPeer(t, logPath, fulcio(t), "serve", "--ca", "ephemeralca", "--ct-log-url", "", "--config-path", cfgPath,
		"--host", "127.0.0.1", "--port", port, "--grpc-host", "127.0.0.1", "--grpc-port", grpcPort, "--metrics-port", metricsPort)
	u := "http://127.0.0.1:" + port
	waitHTTP(t, u+"/api/v1/rootCert", logPath)
	return u
}

// startPeer starts a server process logging to logPath, stopped when the
// test ends.
func startPeer(t *testing.T, logPath, bin string, args ...string) {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", filepath.Base(bin), err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
}

// waitHTTP waits until GET u answers 200, failing with the server's log.
func waitHTTP(t *testing.T, u, logPath string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%s not ready after 60s (last error %v); log:\n%s", u, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fetchTo(t *testing.T, u, path string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// jwtClaims decodes a token's claims (the test trusts its own devstack).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// testPredicate is a small job predicate with one vault grant, revoked or
// (revoked false) whose revocation failed.
func testPredicate(runURI string, revoked bool) *attest.JobPredicate {
	t0 := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Minute)
	rev := attest.Revocation{Outcome: attest.RevocationRevoked, At: ptr(t0.Add(90 * time.Second))}
	if !revoked {
		rev = attest.Revocation{Outcome: attest.RevocationFailed, Error: "POST /v1/auth/token/revoke-self: 503 Service Unavailable"}
	}
	return &attest.JobPredicate{
		Agent:    attest.Agent{Name: "chaperone", Version: "e2e"},
		Platform: "github",
		Job:      attest.Job{RunURI: runURI, Repository: "acme/widgets"},
		Identity: attest.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/widgets:ref:refs/heads/main"},
		Grants: []attest.Grant{{
			Scope: "db", Provider: "vault", Principal: "ci-deploy",
			Fingerprint: strings.Repeat("ab", 32), IssuedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
			Delivery: attest.DeliveryEnv, Revocation: rev,
		}},
		StartedAt: t0, EndedAt: t0.Add(2 * time.Minute),
		Outcome: attest.OutcomeSuccess,
	}
}

func ptr[T any](v T) *T { return &v }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
