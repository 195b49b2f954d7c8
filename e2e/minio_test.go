package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chaperone-ci/chaperone/attest"
)

// minioVersion is the MinIO server scripts/install-tools.sh builds into
// the tools cache. MinIO tags no Go module versions, so the module proxy
// serves a commit of it as a pseudo-version.
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// minioBinary returns the MinIO server to test against: CHAPERONE_MINIO
// when set (a CI that asks for it and cannot provide it fails), else the
// one in the tools cache. Without either the test is skipped, saying how
// to install it: building MinIO takes minutes, too long to do inside a
// test run.
func minioBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAPERONE_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHAPERONE_MINIO: %v", err)
		}
		return p
	}
	p := filepath.Join(toolsDir(), "minio-"+minioVersion, "minio")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("MinIO server %s is not installed at %s: run scripts/install-tools.sh (as CI does), or set CHAPERONE_MINIO", minioVersion, p)
	}
	return p
}

// minioServer is a MinIO server started for one test, on loopback only.
type minioServer struct {
	url                    string
	rootUser, rootPassword string
	logPath                string // its stdout and stderr
}

// log is what the server has printed so far.
func (m *minioServer) log() string {
	b, _ := os.ReadFile(m.logPath)
	return string(b)
}

// Client ids of MinIO's two OpenID providers in these tests. Both trust
// the devstack's issuer: the first is claim-based (a token's
// repository_owner claim names its policy), the second role-based (every
// token with its audience gets the role's policy).
const (
	minioClaimClient = "chaperone-e2e-minio-claim"
	minioRoleClient  = "chaperone-e2e-minio-role"
	minioRolePolicy  = "chaperone-ci"
	minioBucket      = "chaperone-e2e"
)

// minioRoleARN is the ARN MinIO gives a role-based OpenID provider with
// clientID: the base64url SHA-1 of the client id, in a server without a
// region.
func minioRoleARN(clientID string) string {
	sum := sha1.Sum([]byte(clientID))
	return "arn:minio:iam:::role/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// startMinIO runs MinIO with its OpenID providers pointed at issuer (whose
// discovery document and JWKS it fetches at start) until the test ends.
// It listens on 127.0.0.1 (and ::1) only, keeps its data, certs and home
// in temporary directories, and never calls home.
func startMinIO(t *testing.T, bin, issuer string) *minioServer {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"data", "certs", "home"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	m := &minioServer{rootUser: "chaperone-e2e-root", rootPassword: hex.EncodeToString(pw), logPath: filepath.Join(dir, "minio.log")}
	discovery := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"),
		"MINIO_ROOT_USER=" + m.rootUser, "MINIO_ROOT_PASSWORD=" + m.rootPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off",
		// Claim mode: the default provider.
		"MINIO_IDENTITY_OPENID_CONFIG_URL=" + discovery,
		"MINIO_IDENTITY_OPENID_CLIENT_ID=" + minioClaimClient,
		"MINIO_IDENTITY_OPENID_CLAIM_NAME=repository_owner",
		// Role mode: a second provider, named ROLE.
		"MINIO_IDENTITY_OPENID_CONFIG_URL_ROLE=" + discovery,
		"MINIO_IDENTITY_OPENID_CLIENT_ID_ROLE=" + minioRoleClient,
		"MINIO_IDENTITY_OPENID_ROLE_POLICY_ROLE=" + minioRolePolicy,
	}
	// A port found free can be taken before MinIO binds it: try again.
	for attempt := 1; ; attempt++ {
		port, console := freePort(t), freePort(t)
		m.url = "http://127.0.0.1:" + port
		logFile, err := os.Create(m.logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "server", "--address", "127.0.0.1:"+port, "--console-address", "127.0.0.1:"+console,
			"--certs-dir", filepath.Join(dir, "certs"), filepath.Join(dir, "data"))
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
		err = cmd.Start()
		logFile.Close() // the server holds its own descriptor
		if err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		err = waitReady(m.url+"/minio/health/ready", exited, time.Minute)
		if err == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			return m
		}
		if !errors.Is(err, errExited) {
			_ = cmd.Process.Kill()
			<-exited
		}
		if attempt == 3 || !strings.Contains(m.log(), "already in use") {
			t.Fatalf("MinIO did not start: %v; log:\n%s", err, m.log())
		}
	}
}

var errExited = errors.New("the server exited")

// waitReady polls url until it answers 200, the process exits or the
// timeout passes.
func waitReady(url string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("%w: %v", errExited, err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s within %v", url, timeout)
}

// rootConfig is an AWS SDK config with MinIO's root credentials, for the
// test's own administration (never handed to a job).
func (m *minioServer) rootConfig() aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: m.rootUser, SecretAccessKey: m.rootPassword, Source: "e2e"}, nil
		}),
	}
}

// s3 is an S3 client acting as MinIO's root user.
func (m *minioServer) s3() *s3.Client {
	return s3.NewFromConfig(m.rootConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(m.url)
		o.UsePathStyle = true
	})
}

// putPolicy creates or replaces the IAM policy name through MinIO's admin
// API (PUT /minio/admin/v3/add-canned-policy, signed as the root user),
// as `mc admin policy create` does. MinIO reports itself ready before its
// IAM subsystem is: a 503 is retried for up to a minute.
func (m *minioServer) putPolicy(t *testing.T, name, document string) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(document))
	payload := hex.EncodeToString(sum[:])
	creds, _ := m.rootConfig().Credentials.Retrieve(ctx)
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, m.url+"/minio/admin/v3/add-canned-policy?name="+name, strings.NewReader(document))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", payload)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, payload, "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return
		case resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline):
			time.Sleep(200 * time.Millisecond)
		default:
			t.Fatalf("add-canned-policy %s: HTTP %d: %s", name, resp.StatusCode, body)
		}
	}
}

// subjectPolicy allows everything in S3 to tokens whose subject matches
// sub (a StringLike pattern): the binding a role-based provider needs,
// since MinIO admits every token of its issuer with the right audience.
func subjectPolicy(sub string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"],` +
		`"Condition":{"StringLike":{"jwt:sub":["` + sub + `"]}}}]}`
}

// TestMinIOServesTheStockS3Client runs a real MinIO with its OpenID
// providers trusting the devstack's issuer, and jobs under `chaperone run`
// whose aws scope gets credentials from MinIO's AssumeRoleWithWebIdentity:
// the stock aws-sdk-go-v2 S3 client lists buckets, writes an object and
// reads it back, with env delivery and with endpoint delivery, in role
// mode (arn:minio:iam:::role/ID) and in claim mode. The attestation
// records each grant with its expiry. A role bound to another repository's
// subject gets credentials that S3 refuses.
func TestMinIOServesTheStockS3Client(t *testing.T) {
	bin := minioBinary(t)
	s3Job := buildJob(t, "s3job")
	ds := startDevstack(t, "github")
	started := time.Now()
	m := startMinIO(t, bin, ds.env["CHAPERONE_DEVSTACK_ISSUER"])
	t.Logf("MinIO ready in %v", time.Since(started).Round(time.Millisecond))
	// The claim-based provider maps repository_owner to a policy of that
	// name; the role's policy is bound to this repository's subject.
	ownSubject := "repo:" + ds.env["GITHUB_REPOSITORY"] + ":*"
	m.putPolicy(t, ds.env["GITHUB_REPOSITORY_OWNER"], subjectPolicy(ownSubject))
	m.putPolicy(t, minioRolePolicy, subjectPolicy(ownSubject))
	// With IAM up, MinIO logs the ARN it derived for the role.
	roleARN := minioRoleARN(minioRoleClient)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(m.log(), roleARN); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("MinIO's log does not name the role %s:\n%s", roleARN, m.log())
			break
		}
	}
	if _, err := m.s3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(minioBucket)}); err != nil {
		t.Fatal(err)
	}

	// job runs the S3 job under chaperone with one aws scope.
	job := func(t *testing.T, arn, audience, deliver, key string) (result, attest.JobPredicate, string) {
		t.Helper()
		dir := t.TempDir()
		cfg := filepath.Join(dir, "chaperone.yml")
		writeFile(t, cfg, fmt.Sprintf(`version: 1
identity: {source: auto}
scopes:
  - name: minio
    provider: aws
    role-arn: %s
    region: us-east-1
    endpoint: %s
    audience: %s
    duration: 15m
    deliver: %s
attest:
  signer: "key:%s"
  output: chaperone.sigstore.json
`, arn, m.url, audience, deliver, ds.env["CHAPERONE_DEVSTACK_SIGNING_KEY"]))
		script := `set -e
echo "--- env"
env | sort
if [ -n "$AWS_SECRET_ACCESS_KEY" ]; then
  printf 'secret key sha256 %s\n' "$(printf %s "$AWS_SECRET_ACCESS_KEY" | sha256sum | cut -d' ' -f1)"
fi
echo "--- s3job"
"$S3_JOB" -endpoint "$S3_ENDPOINT" -bucket "$BUCKET" -key "$KEY"`
		// No shared AWS config or credentials file of the machine's may
		// stand in for what chaperone delivers.
		none := filepath.Join(dir, "no-such-file")
		env := append(ds.environ(), "S3_JOB="+s3Job, "S3_ENDPOINT="+m.url, "BUCKET="+minioBucket, "KEY="+key,
			"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none)
		r := chaperone(t, dir, env, "run", "--config", cfg, "--", "sh", "-c", script)
		var pred attest.JobPredicate
		if _, err := os.Stat(filepath.Join(dir, "chaperone.sigstore.json")); err == nil {
			pred = bundlePredicate(t, filepath.Join(dir, "chaperone.sigstore.json"))
		} else {
			t.Errorf("no attestation written; stderr:\n%s", r.stderr)
		}
		return r, pred, cfg
	}
	// object reads, as MinIO's root user, what the job wrote.
	object := func(t *testing.T, key string) string {
		t.Helper()
		out, err := m.s3().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("the job's object %s is not in MinIO: %v", key, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}
	// grantOf checks the attested grant: MinIO's credential for the
	// role, bounded by its expiry (STS credentials cannot be revoked).
	grantOf := func(t *testing.T, pred attest.JobPredicate, arn, deliver string) attest.Grant {
		t.Helper()
		if len(pred.Grants) != 1 {
			t.Fatalf("%d grants attested, want 1", len(pred.Grants))
		}
		g := pred.Grants[0]
		if g.Scope != "minio" || g.Provider != "aws" || g.Principal != arn || g.Delivery != deliver || len(g.Fingerprint) != 64 {
			t.Errorf("grant %+v", g)
		}
		if life := g.ExpiresAt.Sub(g.IssuedAt); life < 14*time.Minute || life > 16*time.Minute {
			t.Errorf("grant issued %v expires %v: lifetime %v, want the 15m asked for", g.IssuedAt, g.ExpiresAt, life)
		}
		if r := g.Revocation; r.Outcome != attest.RevocationExpiry || r.ExpiresAt == nil || !r.ExpiresAt.Equal(g.ExpiresAt) {
			t.Errorf("revocation %+v, want expiry at %v", r, g.ExpiresAt)
		}
		return g
	}
	jobDone := func(t *testing.T, r result, key string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"buckets: " + minioBucket, "put s3://" + minioBucket + "/" + key, "get s3://" + minioBucket + "/" + key + ": the same"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("job output lacks %q:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(object(t, key), "written by s3job") {
			t.Errorf("MinIO holds another object at %s", key)
		}
		for _, leak := range []string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN=", "ACTIONS_ID_TOKEN_REQUEST_URL=", m.rootPassword, ds.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]} {
			if strings.Contains(r.stdout+r.stderr, leak) {
				t.Errorf("the job's output holds %.30q", leak)
			}
		}
	}

	t.Run("role mode, env delivery", func(t *testing.T) {
		r, pred, _ := job(t, roleARN, minioRoleClient, "env", "role/env.txt")
		jobDone(t, r, "role/env.txt")
		g := grantOf(t, pred, roleARN, "env")
		// The job's variables are masked in its output, and the attested
		// fingerprint is that of the secret key the job used.
		for _, masked := range []string{"AWS_ACCESS_KEY_ID=***\n", "AWS_SECRET_ACCESS_KEY=***\n", "AWS_SESSION_TOKEN=***\n", "AWS_REGION=us-east-1\n"} {
			if !strings.Contains(r.stdout, masked) {
				t.Errorf("job's env lacks %q:\n%s", masked, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "secret key sha256 "+g.Fingerprint) {
			t.Errorf("attested fingerprint %s is not the job's secret key's:\n%s", g.Fingerprint, r.stdout)
		}
	})
	t.Run("role mode, endpoint delivery", func(t *testing.T) {
		r, pred, _ := job(t, roleARN, minioRoleClient, "endpoint", "role/endpoint.txt")
		jobDone(t, r, "role/endpoint.txt")
		g := grantOf(t, pred, roleARN, "endpoint")
		if strings.Contains(r.stdout, "AWS_SECRET_ACCESS_KEY=") || !strings.Contains(r.stdout, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:") {
			t.Errorf("endpoint delivery put keys in the environment, or no endpoint:\n%s", r.stdout)
		}
		fetched := false
		for _, f := range g.Fetches {
			fetched = fetched || f.Protocol == "aws" && strings.HasSuffix(f.Executable, "s3job")
		}
		if !fetched {
			t.Errorf("usage record %+v shows no fetch by s3job", g.Fetches)
		}
	})
	t.Run("claim mode", func(t *testing.T) {
		// MinIO ignores a role ARN it does not know when a claim-based
		// provider is set; the SDK requires one, so any valid ARN does, and
		// it is what the attestation names.
		const arn = "arn:aws:iam::000000000000:role/minio-claim"
		r, pred, _ := job(t, arn, minioClaimClient, "env", "claim/env.txt")
		jobDone(t, r, "claim/env.txt")
		grantOf(t, pred, arn, "env")
	})
	t.Run("role bound to another repository", func(t *testing.T) {
		// MinIO issues role credentials to any token with the audience;
		// the policy's jwt:sub condition is what keeps other repositories
		// out. Bound elsewhere, this job's credentials are refused.
		m.putPolicy(t, minioRolePolicy, subjectPolicy("repo:someone/else:*"))
		r, _, _ := job(t, roleARN, minioRoleClient, "env", "role/refused.txt")
		if r.code == 0 || !strings.Contains(r.stderr, "AccessDenied") {
			t.Errorf("exit %d; want the job refused with AccessDenied:\n%s", r.code, r.stderr)
		}
	})
}
