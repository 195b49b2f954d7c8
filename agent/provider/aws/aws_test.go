package aws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/aws"
	"github.com/chaperone-ci/chaperone/agent/provider/providertest"
	"github.com/chaperone-ci/chaperone/internal/devstack"
	"github.com/chaperone-ci/chaperone/internal/devstack/devstacktest"
)

// fixedToken is a TokenSource that always hands out the same token, for
// tests in which no devstack checks it.
type fixedToken string

func (f fixedToken) Token(context.Context, string) (string, error) { return string(f), nil }

func config(st *devstack.Stack) aws.Config {
	return aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", Endpoint: st.STSURL, SessionName: "gh-4242-1-build"}
}

// callerIdentity calls GetCallerIdentity at the devstack with the real SDK
// and static credentials.
func callerIdentity(st *devstack.Stack, id, secret, session string) (*sts.GetCallerIdentityOutput, error) {
	client := sts.New(sts.Options{
		Region:       "eu-west-1",
		BaseEndpoint: awssdk.String(st.STSURL),
		Credentials: awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
			return awssdk.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: session, Source: "test"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	return client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
}

func TestIssueAndUseWithTheSDK(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	p, err := aws.New(config(st))
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := g.Find(provider.KindAWSAccessKeyID)
	secret, _ := g.Find(provider.KindAWSSecretAccessKey)
	session, _ := g.Find(provider.KindAWSSessionToken)
	if len(g.Values) != 3 || id.Name != "AWS_ACCESS_KEY_ID" || secret.Name != "AWS_SECRET_ACCESS_KEY" || session.Name != "AWS_SESSION_TOKEN" ||
		!strings.HasPrefix(id.Secret, "ASIA") || secret.Secret == "" || session.Secret == "" {
		t.Fatalf("values %d: %s %s %s", len(g.Values), id.Name, secret.Name, session.Name)
	}
	if g.Revocable || g.Principal != devstack.AWSRoleARN || g.SessionName != "gh-4242-1-build" {
		t.Errorf("grant: revocable %v principal %q session %q", g.Revocable, g.Principal, g.SessionName)
	}
	if life := g.ExpiresAt.Sub(g.IssuedAt); life > 15*time.Minute || life < 14*time.Minute {
		t.Errorf("lifetime %v, want the default 15m", life)
	}
	creds := st.Credentials()
	if len(creds) != 1 || creds[0].Provider != devstack.ProviderAWS || creds[0].Fingerprint != g.Fingerprint ||
		creds[0].ID != id.Secret || !creds[0].ExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("ledger %+v does not match grant %s", creds, g.Fingerprint)
	}
	if err := p.Revoke(context.Background(), g); !errors.Is(err, provider.ErrNotRevocable) {
		t.Errorf("Revoke = %v, want ErrNotRevocable", err)
	}

	out, err := callerIdentity(st, id.Secret, secret.Secret, session.Secret)
	if err != nil {
		t.Fatalf("GetCallerIdentity with the issued keys: %v", err)
	}
	if arn := awssdk.ToString(out.Arn); arn != "arn:aws:sts::"+devstack.AWSAccountID+":assumed-role/chaperone-devstack/gh-4242-1-build" {
		t.Errorf("caller ARN %q does not name the session", arn)
	}
	tampered := []byte(secret.Secret)
	tampered[0] ^= 1
	if _, err := callerIdentity(st, id.Secret, string(tampered), session.Secret); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("GetCallerIdentity with a tampered secret: %v, want SignatureDoesNotMatch", err)
	}
}

func TestOptionsReachSTS(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{CredentialTTL: 5 * time.Second})
	cfg := config(st)
	cfg.Audience = devstack.Audience
	cfg.Duration = time.Hour
	cfg.InlineSessionPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	cfg.ManagedSessionPolicies = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}
	cfg.Env = aws.EnvNames{AccessKeyID: "PROD_KEY", SecretAccessKey: "PROD_SECRET", SessionToken: "PROD_TOKEN"}
	tokens := devstacktest.Tokens(st, devstack.TokenRequest{})
	p, err := aws.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), tokens)
	if err != nil {
		t.Fatal(err)
	}
	if asked := tokens.Asked(); len(asked) != 1 || asked[0] != devstack.Audience {
		t.Errorf("token audiences %v", asked)
	}
	if g.Values[0].Name != "PROD_KEY" || g.Values[1].Name != "PROD_SECRET" || g.Values[2].Name != "PROD_TOKEN" {
		t.Errorf("value names %s %s %s", g.Values[0].Name, g.Values[1].Name, g.Values[2].Name)
	}
	// The stand-in's cap (for renewal tests) shows in ExpiresAt.
	if d := time.Until(g.ExpiresAt); d > 5*time.Second {
		t.Errorf("expires in %v despite the 5s cap", d)
	}
}

func TestRefusalsFailFastWithSTSMessage(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	cases := []struct {
		name   string
		cfg    func(aws.Config) aws.Config
		tokens devstack.TokenRequest
		want   string
	}{
		{"wrong audience", func(c aws.Config) aws.Config { return c }, devstack.TokenRequest{Audience: "https://elsewhere"}, "HTTP 400: InvalidIdentityToken: Incorrect token audience"},
		{"other repository", func(c aws.Config) aws.Config { return c },
			devstack.TokenRequest{Claims: map[string]any{"sub": "repo:someone/else:ref:refs/heads/main"}}, "HTTP 403: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{"expired token", func(c aws.Config) aws.Config { return c }, devstack.TokenRequest{IssuedAt: time.Now().Add(-time.Hour)}, "HTTP 400: ExpiredTokenException"},
		{"unknown role", func(c aws.Config) aws.Config {
			c.RoleARN = "arn:aws:iam::" + devstack.AWSAccountID + ":role/admin"
			return c
		}, devstack.TokenRequest{}, "HTTP 403: AccessDenied"},
		{"duration above the role's maximum", func(c aws.Config) aws.Config {
			c.Duration = 2 * time.Hour
			return c
		}, devstack.TokenRequest{}, "HTTP 400: ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := &devstacktest.Counter{}
			p, err := aws.New(tc.cfg(config(st)), provider.WithHTTPClient(rt.Client()))
			if err != nil {
				t.Fatal(err)
			}
			providertest.AssertRefused(t, p, devstacktest.Tokens(st, tc.tokens), rt, "aws sts AssumeRoleWithWebIdentity: "+tc.want, 1)
		})
	}
	if n := len(st.Credentials()); n != 0 {
		t.Errorf("refusals issued %d credentials", n)
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	st := devstacktest.Start(t, devstack.Options{})
	// 500, 503 are retried; an injected 403 fails at once with the
	// server's message; and a server that keeps failing gives up at the
	// deadline.
	providertest.AssertRetriesThenFailsFast(t, st, devstack.ServiceAWS, func(c *http.Client) provider.Provider {
		p, err := aws.New(config(st), provider.WithHTTPClient(c))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}, "explicit deny in a service control policy", "HTTP 403: AccessDenied: explicit deny in a service control policy")
	if err := st.FailNext(devstack.ServiceAWS, 503, 503, 503, 503, 503, 503, 503, 503); err != nil {
		t.Fatal(err)
	}
	p, _ := aws.New(config(st), provider.WithRetryDeadline(700*time.Millisecond))
	if _, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{})); err == nil || !strings.Contains(err.Error(), "HTTP 503: ServiceUnavailable") {
		t.Errorf("persistent 503: err = %v", err)
	}
}

func TestTransportFailureIsRetriedAndReported(t *testing.T) {
	p, err := aws.New(aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", SessionName: "s1"},
		provider.WithRetryDeadline(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Issue(context.Background(), fixedToken("header.payload.sig"))
	if err == nil || !strings.HasPrefix(err.Error(), "aws sts AssumeRoleWithWebIdentity: ") || strings.Contains(err.Error(), "header.payload.sig") {
		t.Errorf("err = %v", err)
	}
}

func TestDescribe(t *testing.T) {
	p, err := aws.New(aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", SessionName: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Description{Provider: "aws", Principal: devstack.AWSRoleARN, Audience: "sts.amazonaws.com", Endpoint: "https://sts.eu-west-1.amazonaws.com", Lifetime: aws.DefaultDuration}
	if d := p.Describe(); d != want {
		t.Errorf("Describe = %+v, want %+v", d, want)
	}
	if pv := p.PublicValues(); len(pv) != 2 || pv[0] != (provider.Value{Name: "AWS_REGION", Secret: "eu-west-1"}) || p.Region() != "eu-west-1" {
		t.Errorf("PublicValues = %+v", pv)
	}
}

func TestNewValidates(t *testing.T) {
	ok := aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", SessionName: "s1"}
	cases := []struct {
		change func(*aws.Config)
		field  string
	}{
		{func(c *aws.Config) { c.RoleARN = "" }, "role-arn"},
		{func(c *aws.Config) { c.RoleARN = "arn:aws:iam::123:user/x" }, "role-arn"},
		{func(c *aws.Config) { c.Region = "" }, "region"},
		{func(c *aws.Config) { c.Region = "EU West" }, "region"},
		{func(c *aws.Config) { c.Duration = 10 * time.Minute }, "duration"},
		{func(c *aws.Config) { c.Duration = 13 * time.Hour }, "duration"},
		{func(c *aws.Config) { c.Duration = 20*time.Minute + time.Millisecond }, "duration"},
		{func(c *aws.Config) { c.Endpoint = "sts.local" }, "endpoint"},
		{func(c *aws.Config) { c.SessionName = "has space" }, "session-name"},
		{func(c *aws.Config) { c.SessionName = strings.Repeat("x", 65) }, "session-name"},
		{func(c *aws.Config) { c.InlineSessionPolicy = "{not json" }, "inline-session-policy"},
		{func(c *aws.Config) { c.ManagedSessionPolicies = []string{"ReadOnly"} }, "managed-session-policies[0]"},
		{func(c *aws.Config) { c.Env.SessionToken = "AWS_ACCESS_KEY_ID" }, "env"},
	}
	for _, tc := range cases {
		cfg := ok
		tc.change(&cfg)
		_, err := aws.New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+" ") && !strings.HasPrefix(err.Error(), tc.field+":") || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%+v) = %v, want a one-line error naming %s", cfg, err, tc.field)
		}
	}
	if _, err := aws.New(ok); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	for _, cfg := range []aws.Config{
		{RoleARN: "arn:minio:iam:::role/dRh2Q0pNRcxQk2a2mVVN3CHEquQ", Region: "us-east-1", SessionName: "s1", Endpoint: "http://127.0.0.1:9000"},
		{RoleARN: "arn:minio:iam:eu-west-1::role/id", Region: "eu-west-1", SessionName: "s1", Endpoint: "https://minio.example.com"},
		{RoleARN: "arn:aws-us-gov:iam::123456789012:role/ci/deploy", Region: "us-gov-west-1", SessionName: "s1"},
	} {
		if _, err := aws.New(cfg); err != nil {
			t.Errorf("New(%s) refused: %v", cfg.RoleARN, err)
		}
	}
	// A MinIO role needs the MinIO server's URL: AWS's STS would refuse it.
	var ke *provider.KeyError
	_, err := aws.New(aws.Config{RoleARN: "arn:minio:iam:::role/id", Region: "us-east-1", SessionName: "s1"})
	if !errors.As(err, &ke) || ke.Key != "role-arn" || !strings.Contains(err.Error(), "endpoint") {
		t.Errorf("MinIO role without endpoint: %v", err)
	}
}

// TestRenderTrustMinIO: MinIO has no trust policy document; rendering one
// says what binds a MinIO role instead.
func TestRenderTrustMinIO(t *testing.T) {
	p, err := aws.New(aws.Config{RoleARN: "arn:minio:iam:::role/id", Region: "us-east-1", SessionName: "s1", Endpoint: "http://127.0.0.1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.RenderTrust(provider.Binding{Platform: "github", Issuer: "https://token.actions.githubusercontent.com", Claims: map[string]string{"repository": "a/b"}})
	if err == nil || !strings.Contains(err.Error(), "MinIO") || !strings.Contains(err.Error(), "client") {
		t.Errorf("err = %v, want what binds a MinIO role", err)
	}
}

func TestSessionNameFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GITHUB_RUN_ID": "32291736541", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "deploy prod"}, "gh-32291736541-2-deploy-prod"},
		{map[string]string{"GITHUB_RUN_ID": "1", "GITHUB_JOB": strings.Repeat("j", 80)}, ("gh-1-1-" + strings.Repeat("j", 80))[:64]},
		{map[string]string{"CI_JOB_ID": "9001", "CI_PROJECT_ID": "77"}, "gl-77-9001"},
	}
	for _, tc := range cases {
		if got := aws.SessionNameFromEnv(env(tc.env)); got != tc.want {
			t.Errorf("SessionNameFromEnv(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
	a, b := aws.SessionNameFromEnv(env(nil)), aws.SessionNameFromEnv(env(nil))
	if a == b || !strings.HasPrefix(a, "chaperone-") || len(a) > 64 {
		t.Errorf("fallback names %q, %q: want unique chaperone-… names", a, b)
	}
	t.Setenv("GITHUB_RUN_ID", "555")
	t.Setenv("GITHUB_RUN_ATTEMPT", "3")
	t.Setenv("GITHUB_JOB", "build")
	st := devstacktest.Start(t, devstack.Options{})
	p, err := aws.New(aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", Endpoint: st.STSURL})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Issue(context.Background(), devstacktest.Tokens(st, devstack.TokenRequest{}))
	if err != nil || g.SessionName != "gh-555-3-build" {
		t.Errorf("session from env: %v %q", err, g.SessionName)
	}
}

func TestUndecodableAndOversizedResponses(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRETzz"
	for name, body := range map[string]string{
		"undecodable": "<AssumeRoleWithWebIdentityResponse><SecretAccessKey>" + secret + "</SecretAccessKey><broken",
		"oversized":   "<AssumeRoleWithWebIdentityResponse>" + strings.Repeat(" ", 2<<20) + secret,
	} {
		t.Run(name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "text/xml")
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			p, err := aws.New(aws.Config{RoleARN: devstack.AWSRoleARN, Region: "eu-west-1", Endpoint: srv.URL, SessionName: "s1"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Issue(context.Background(), fixedToken("h.p.s"))
			if err == nil || strings.Contains(err.Error(), secret) || hits.Load() != 1 {
				t.Errorf("err = %v after %d requests; want one failed request and no quoted body", err, hits.Load())
			}
		})
	}
}
