// Package aws issues temporary AWS credentials with STS
// AssumeRoleWithWebIdentity, through the AWS SDK for Go v2, from the job's
// OIDC token. Each session is named after the job (RoleSessionName), so
// CloudTrail shows which job acted. STS sessions cannot be revoked: the
// grant's ExpiresAt is the bound of their exposure, so keep Duration short
// and let the local endpoint renew them.
package aws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/sethvargo/go-retry"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Limits AWS applies to AssumeRoleWithWebIdentity.
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	DefaultDuration = 15 * time.Minute
	// DefaultAudience is the audience AWS's documentation and
	// configure-aws-credentials use for the OIDC token.
	DefaultAudience = "sts.amazonaws.com"
	maxPolicyLength = 2048
	maxSessionName  = 64
)

// Default names of the values handed to the job.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
)

// Role ARNs in the forms the STS servers chaperone meets accept: AWS's
// (any partition: aws, aws-cn, aws-us-gov, ...) with a 12-digit account,
// and MinIO's role-policy ARNs, arn:minio:iam:[REGION]::role/ID, which
// have no account (MinIO derives ID from its OpenID client id).
var (
	awsRoleARN         = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	minioRoleARN       = regexp.MustCompile(`^arn:minio:iam:[a-z0-9-]*::role/[\w./-]{1,512}$`)
	regionPattern      = regexp.MustCompile(`^[a-z0-9-]+$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	sessionNameInvalid = regexp.MustCompile(`[^\w+=,.@-]+`)
)

// Config is an aws scope's settings in .chaperone.yml.
type Config struct {
	RoleARN string `mapstructure:"role-arn"`
	Region  string `mapstructure:"region"`
	// Duration is DurationSeconds: 15m (default, AWS's minimum) to 12h,
	// and at most the role's MaxSessionDuration.
	Duration time.Duration `mapstructure:"duration"`
	// Audience is the aud of the OIDC token; default sts.amazonaws.com.
	Audience string `mapstructure:"audience"`
	// Endpoint overrides the STS endpoint (LocalStack, MinIO, a VPC
	// endpoint, the devstack); default https://sts.<region>.amazonaws.com.
	Endpoint string `mapstructure:"endpoint"`
	// SessionName is the RoleSessionName: 2-64 characters of [\w+=,.@-].
	// Default: SessionNameFromEnv with the process environment. The agent
	// may fill it from the job it knows.
	SessionName string `mapstructure:"session-name"`
	// InlineSessionPolicy (JSON) and ManagedSessionPolicies (ARNs) narrow
	// the session below the role's permissions.
	InlineSessionPolicy    string   `mapstructure:"inline-session-policy"`
	ManagedSessionPolicies []string `mapstructure:"managed-session-policies"`
	// Env renames the values handed to the job.
	Env EnvNames `mapstructure:"env"`
}

// EnvNames are the names the job sees the credentials under; defaults
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN.
type EnvNames struct {
	AccessKeyID     string `mapstructure:"access-key-id"`
	SecretAccessKey string `mapstructure:"secret-access-key"`
	SessionToken    string `mapstructure:"session-token"`
}

// Provider assumes one role with the job's OIDC token.
type Provider struct {
	cfg      Config
	client   *sts.Client
	deadline time.Duration
}

// New validates cfg and returns a Provider. It does no I/O. Errors are one
// line naming the offending key (a *provider.KeyError).
func New(cfg Config, opts ...provider.Option) (*Provider, error) {
	if cfg.RoleARN == "" {
		return nil, provider.KeyErrorf("role-arn", "role-arn is required (arn:aws:iam::ACCOUNT:role/NAME)")
	}
	minio := minioRoleARN.MatchString(cfg.RoleARN)
	if !minio && !awsRoleARN.MatchString(cfg.RoleARN) {
		return nil, provider.KeyErrorf("role-arn", "role-arn %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME, or MinIO's arn:minio:iam:::role/ID)", cfg.RoleARN)
	}
	if minio && cfg.Endpoint == "" {
		return nil, provider.KeyErrorf("role-arn", "role-arn %q is a MinIO role: endpoint (the MinIO server's URL) is required with it", cfg.RoleARN)
	}
	if cfg.Region == "" {
		return nil, provider.KeyErrorf("region", "region is required (e.g. eu-west-1)")
	}
	if !regionPattern.MatchString(cfg.Region) {
		return nil, provider.KeyErrorf("region", "region %q is not a region name (e.g. eu-west-1)", cfg.Region)
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Duration < MinDuration || cfg.Duration > MaxDuration || cfg.Duration%time.Second != 0 {
		return nil, provider.KeyErrorf("duration", "duration %v must be whole seconds between %v and %v", cfg.Duration, MinDuration, MaxDuration)
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return nil, provider.KeyErrorf("endpoint", "endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	if cfg.SessionName == "" {
		cfg.SessionName = SessionNameFromEnv(nil)
	}
	if !sessionNamePattern.MatchString(cfg.SessionName) {
		return nil, provider.KeyErrorf("session-name", "session-name %q must be 2-64 characters of letters, digits and +=,.@_-", cfg.SessionName)
	}
	if p := cfg.InlineSessionPolicy; p != "" {
		if len(p) > maxPolicyLength || !json.Valid([]byte(p)) {
			return nil, provider.KeyErrorf("inline-session-policy", "inline-session-policy must be a JSON policy document of at most %d characters", maxPolicyLength)
		}
	}
	for i, arn := range cfg.ManagedSessionPolicies {
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":policy/") {
			key := fmt.Sprintf("managed-session-policies[%d]", i)
			return nil, provider.KeyErrorf(key, "%s %q is not a managed policy ARN", key, arn)
		}
	}
	cfg.Env.AccessKeyID = orDefault(cfg.Env.AccessKeyID, EnvAccessKeyID)
	cfg.Env.SecretAccessKey = orDefault(cfg.Env.SecretAccessKey, EnvSecretAccessKey)
	cfg.Env.SessionToken = orDefault(cfg.Env.SessionToken, EnvSessionToken)
	for key, name := range map[string]string{"env.access-key-id": cfg.Env.AccessKeyID, "env.secret-access-key": cfg.Env.SecretAccessKey, "env.session-token": cfg.Env.SessionToken} {
		if err := provider.CheckEnvName(key, name); err != nil {
			return nil, &provider.KeyError{Key: key, Msg: err.Error()}
		}
	}
	if n := cfg.Env; n.AccessKeyID == n.SecretAccessKey || n.AccessKeyID == n.SessionToken || n.SecretAccessKey == n.SessionToken {
		return nil, provider.KeyErrorf("env", "env: access-key-id, secret-access-key and session-token need distinct names")
	}

	set := provider.Apply(opts...)
	httpClient := set.Client
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	o := sts.Options{
		Region: cfg.Region,
		// The call is unsigned: it is authenticated by the token alone.
		Credentials: awssdk.AnonymousCredentials{},
		HTTPClient:  boundedClient{httpClient},
		// Retries are ours (retryable below), with the shared deadline.
		Retryer: awssdk.NopRetryer{},
		AppID:   "chaperone",
	}
	if cfg.Endpoint != "" {
		o.BaseEndpoint = awssdk.String(cfg.Endpoint)
	}
	return &Provider{cfg: cfg, client: sts.New(o), deadline: set.RetryDeadline}, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SessionNameFromEnv derives a RoleSessionName unique to the job from the
// CI's variables (getenv nil means the process environment):
// "gh-<GITHUB_RUN_ID>-<GITHUB_RUN_ATTEMPT>-<GITHUB_JOB>" on GitHub Actions,
// "gl-<CI_PROJECT_ID>-<CI_JOB_ID>" on GitLab (job ids are unique per
// instance), else "chaperone-<unix time>-<random>". Characters AWS refuses
// become '-', and the name is cut to 64 characters.
func SessionNameFromEnv(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	var name string
	switch {
	case getenv("GITHUB_RUN_ID") != "":
		name = "gh-" + getenv("GITHUB_RUN_ID") + "-" + orDefault(getenv("GITHUB_RUN_ATTEMPT"), "1")
		if job := getenv("GITHUB_JOB"); job != "" {
			name += "-" + job
		}
	case getenv("CI_JOB_ID") != "":
		name = "gl-"
		if project := getenv("CI_PROJECT_ID"); project != "" {
			name += project + "-"
		}
		name += getenv("CI_JOB_ID")
	default:
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = fmt.Sprintf("chaperone-%d-%s", time.Now().Unix(), hex.EncodeToString(b[:]))
	}
	name = sessionNameInvalid.ReplaceAllString(name, "-")
	if len(name) > maxSessionName {
		name = name[:maxSessionName]
	}
	return name
}

// Describe implements provider.Provider.
func (p *Provider) Describe() provider.Description {
	endpoint := p.cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://sts." + p.cfg.Region + ".amazonaws.com"
	}
	return provider.Description{Provider: "aws", Principal: p.cfg.RoleARN, Audience: p.cfg.Audience, Endpoint: endpoint, Lifetime: p.cfg.Duration}
}

// ValueNames lists the names of the values Issue hands the job, in order:
// the access key id, the secret access key and the session token.
func (p *Provider) ValueNames() []string {
	return []string{p.cfg.Env.AccessKeyID, p.cfg.Env.SecretAccessKey, p.cfg.Env.SessionToken}
}

// Region is the configured region, which the job needs as AWS_REGION; it
// is not a secret and is not among the grant's Values.
func (p *Provider) Region() string { return p.cfg.Region }

// PublicValues are the non-secret variables the job needs besides the
// grant's Values: AWS_REGION and AWS_DEFAULT_REGION, as
// configure-aws-credentials exports them.
func (p *Provider) PublicValues() []provider.Value {
	return []provider.Value{{Name: "AWS_REGION", Secret: p.cfg.Region}, {Name: "AWS_DEFAULT_REGION", Secret: p.cfg.Region}}
}

// Issue calls AssumeRoleWithWebIdentity with a token for the configured
// audience. Throttling, server errors and transport failures are retried
// with jittered backoff until the retry deadline; a refusal (4xx) returns
// at once with STS's code and message. The grant's Values are the access
// key id, the secret access key and the session token, in that order;
// Fingerprint is the SHA-256 of the secret access key.
func (p *Provider) Issue(ctx context.Context, tokens provider.TokenSource) (*provider.Grant, error) {
	jwt, err := tokens.Token(ctx, p.cfg.Audience)
	if err != nil {
		return nil, err
	}
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          awssdk.String(p.cfg.RoleARN),
		RoleSessionName:  awssdk.String(p.cfg.SessionName),
		WebIdentityToken: awssdk.String(jwt),
		DurationSeconds:  awssdk.Int32(int32(p.cfg.Duration / time.Second)),
	}
	if p.cfg.InlineSessionPolicy != "" {
		in.Policy = awssdk.String(p.cfg.InlineSessionPolicy)
	}
	for _, arn := range p.cfg.ManagedSessionPolicies {
		in.PolicyArns = append(in.PolicyArns, ststypes.PolicyDescriptorType{Arn: awssdk.String(arn)})
	}

	issuedAt := time.Now().UTC()
	var out *sts.AssumeRoleWithWebIdentityOutput
	err = retry.Do(ctx, backoff(p.deadline), func(ctx context.Context) error {
		var err error
		out, err = p.client.AssumeRoleWithWebIdentity(ctx, in)
		if err == nil {
			return nil
		}
		err = describeError(err)
		if retryable(err) && ctx.Err() == nil {
			return retry.RetryableError(err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return nil, errors.New("aws sts AssumeRoleWithWebIdentity: response has no credentials")
	}
	return &provider.Grant{
		Principal:    p.cfg.RoleARN,
		SessionName:  p.cfg.SessionName,
		Fingerprint:  wire.SHA256Hex(*c.SecretAccessKey),
		IssuedAt:     issuedAt,
		ExpiresAt:    c.Expiration.UTC(),
		Revocable:    false,
		Restrictions: p.restrictions(),
		Values: []provider.Value{
			{Name: p.cfg.Env.AccessKeyID, Secret: *c.AccessKeyId, Kind: provider.KindAWSAccessKeyID},
			{Name: p.cfg.Env.SecretAccessKey, Secret: *c.SecretAccessKey, Kind: provider.KindAWSSecretAccessKey},
			{Name: p.cfg.Env.SessionToken, Secret: *c.SessionToken, Kind: provider.KindAWSSessionToken},
		},
	}, nil
}

// restrictions are the session policies passed to STS, which limit the
// session to what both they and the role allow (nil without any).
func (p *Provider) restrictions() *provider.Restrictions {
	if p.cfg.InlineSessionPolicy == "" && len(p.cfg.ManagedSessionPolicies) == 0 {
		return nil
	}
	return &provider.Restrictions{SessionPolicy: p.cfg.InlineSessionPolicy, PolicyARNs: p.cfg.ManagedSessionPolicies}
}

// Revoke implements provider.Provider: STS has no revocation, so it
// returns provider.ErrNotRevocable; the session ends at ExpiresAt.
func (p *Provider) Revoke(context.Context, *provider.Grant) error { return provider.ErrNotRevocable }

// backoff is the schedule the wire package uses for every provider.
func backoff(deadline time.Duration) retry.Backoff {
	if deadline <= 0 {
		deadline = 30 * time.Second
	}
	return retry.WithMaxDuration(deadline, retry.WithJitterPercent(30,
		retry.WithCappedDuration(5*time.Second, retry.NewExponential(200*time.Millisecond))))
}

const op = "aws sts AssumeRoleWithWebIdentity"

// describeError turns an SDK error into a *wire.StatusError carrying STS's
// code and message, or a one-line transport error. Neither includes the
// request (whose body holds the token).
func describeError(err error) error {
	status := 0
	var withStatus interface{ HTTPStatusCode() int }
	if errors.As(err, &withStatus) {
		status = withStatus.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := api.ErrorCode()
		if m := api.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		return &wire.StatusError{Op: op, Status: status, Message: wire.ServerMessage([]byte(msg))}
	}
	if status >= 200 && status <= 299 {
		// A success the SDK could not decode; its error may quote the
		// body, which would hold the credentials.
		return &wire.StatusError{Op: op, Status: status, Message: "the response could not be decoded"}
	}
	if status != 0 {
		return &wire.StatusError{Op: op, Status: status}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", op, ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// retryable: transport failures, throttling, server errors, and the
// IdP-unreachable error STS answers with 400 (AWS documents it as
// retryable).
func retryable(err error) bool {
	var se *wire.StatusError
	if !errors.As(err, &se) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	if se.Retryable() {
		return true
	}
	return strings.HasPrefix(se.Message, "IDPCommunicationError") || strings.HasPrefix(se.Message, "Throttling")
}

// boundedClient limits every response body the SDK reads to
// wire.MaxResponseBytes.
type boundedClient struct{ c *http.Client }

func (b boundedClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: wire.MaxResponseBytes}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte past the limit decides between EOF and too large.
		var one [1]byte
		if n, _ := l.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("response larger than %d bytes", wire.MaxResponseBytes)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
