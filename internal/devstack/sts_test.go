package devstack

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Published AWS Signature Version 4 examples: they pin the canonical
// request and signing key derivation to AWS's own results.
func TestSigV4KnownAnswers(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	cases := []struct {
		name, url, service string
		header             map[string]string
		signed             []string
		want               string
	}{
		{
			name: "aws-sig-v4-test-suite get-vanilla", url: "https://example.amazonaws.com/", service: "service",
			header: map[string]string{"X-Amz-Date": "20150830T123600Z"},
			signed: []string{"host", "x-amz-date"},
			want:   "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "IAM user guide ListUsers", url: "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", service: "iam",
			header: map[string]string{"X-Amz-Date": "20150830T123600Z", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
			signed: []string{"content-type", "host", "x-amz-date"},
			want:   "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		},
	}
	for _, c := range cases {
		req, err := http.NewRequest(http.MethodGet, c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		creq := sigV4CanonicalRequest(req, nil, c.signed)
		if got := sigV4Signature(secret, "20150830T123600Z", "20150830", "us-east-1", c.service, creq); got != c.want {
			t.Errorf("%s: signature %s, want %s\ncanonical request:\n%s", c.name, got, c.want, creq)
		}
	}
}

type stsCreds struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
}

// assumeRole posts AssumeRoleWithWebIdentity and returns status and body.
func assumeRole(t *testing.T, s *Stack, form url.Values) (int, []byte) {
	t.Helper()
	return call(t, http.MethodPost, s.STSURL+"/", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
}

func assumeForm(roleARN, session, token string) url.Values {
	return url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {roleARN},
		"RoleSessionName": {session}, "WebIdentityToken": {token}, "DurationSeconds": {"900"},
	}
}

type xmlError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
}

func stsErrorOf(t *testing.T, body []byte) xmlError {
	t.Helper()
	var e xmlError
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an STS ErrorResponse: %v\n%s", err, body)
	}
	return e
}

func TestSTSAssumeRoleWithWebIdentity(t *testing.T) {
	s := startStack(t, Options{})
	token, err := s.MintToken("", "sts.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	status, body := assumeRole(t, s, assumeForm(AWSRoleARN, "ci-github-1-1", token))
	if status != http.StatusOK {
		t.Fatalf("AssumeRoleWithWebIdentity: %d %s", status, body)
	}
	var resp struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
		Result  struct {
			Credentials struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string `xml:"SecretAccessKey"`
				SessionToken    string `xml:"SessionToken"`
				Expiration      string `xml:"Expiration"`
			} `xml:"Credentials"`
			Subject         string `xml:"SubjectFromWebIdentityToken"`
			AssumedRoleUser struct {
				Arn           string `xml:"Arn"`
				AssumedRoleID string `xml:"AssumedRoleId"`
			} `xml:"AssumedRoleUser"`
			Audience string `xml:"Audience"`
			Provider string `xml:"Provider"`
		} `xml:"AssumeRoleWithWebIdentityResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response: %v\n%s", err, body)
	}
	r := resp.Result
	expires, err := time.Parse(time.RFC3339, r.Credentials.Expiration)
	if err != nil {
		t.Fatalf("Expiration %q: %v", r.Credentials.Expiration, err)
	}
	if d := time.Until(expires); d < 890*time.Second || d > 900*time.Second {
		t.Errorf("credentials expire in %v, want DurationSeconds=900", d)
	}
	if !strings.HasPrefix(r.Credentials.AccessKeyID, "ASIA") || len(r.Credentials.AccessKeyID) != 20 ||
		len(r.Credentials.SecretAccessKey) != 40 || r.Credentials.SessionToken == "" {
		t.Errorf("credentials: %+v", r.Credentials)
	}
	if r.Subject != "repo:"+Repository+":ref:refs/heads/main" || r.Audience != "sts.amazonaws.com" ||
		r.AssumedRoleUser.Arn != "arn:aws:sts::"+AWSAccountID+":assumed-role/chaperone-devstack/ci-github-1-1" ||
		!strings.HasSuffix(r.AssumedRoleUser.AssumedRoleID, ":ci-github-1-1") || !strings.Contains(r.Provider, "oidc-provider/") ||
		resp.RequestID == "" {
		t.Errorf("result: %+v", resp)
	}
	creds := s.Credentials()
	if len(creds) != 1 || creds[0].Provider != ProviderAWS || creds[0].ID != r.Credentials.AccessKeyID ||
		creds[0].Fingerprint != fingerprint(r.Credentials.SecretAccessKey) || !creds[0].ExpiresAt.Equal(expires) {
		t.Errorf("ledger: %+v", creds)
	}
	assertLedgerJSON(t, s, creds, []string{r.Credentials.SecretAccessKey, r.Credentials.SessionToken, token})

	mint := func(req mintRequest) string {
		t.Helper()
		tok, err := s.issuer.mint(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	gitlab := mint(mintRequest{platform: PlatformGitLab, audience: Audience})
	if status, body := assumeRole(t, s, assumeForm(AWSRoleARN, "ci-gitlab", gitlab)); status != http.StatusOK {
		t.Errorf("GitLab token with audience %s: %d %s", Audience, status, body)
	}

	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong audience", assumeForm(AWSRoleARN, "s1", mint(mintRequest{audience: Audience + "-other"})), 400, "InvalidIdentityToken"},
		{"expired", assumeForm(AWSRoleARN, "s1", mint(mintRequest{audience: "sts.amazonaws.com", issuedAt: time.Now().Add(-time.Hour)})), 400, "ExpiredTokenException"},
		{"foreign issuer", assumeForm(AWSRoleARN, "s1", mint(mintRequest{audience: "sts.amazonaws.com", extra: map[string]any{"iss": "https://issuer.example"}})), 400, "InvalidIdentityToken"},
		{"other repository", assumeForm(AWSRoleARN, "s1", mint(mintRequest{audience: "sts.amazonaws.com", extra: map[string]any{"sub": "repo:someone/else:ref:refs/heads/main"}})), 403, "AccessDenied"},
		{"unknown role", assumeForm("arn:aws:iam::"+AWSAccountID+":role/admin", "s1", token), 403, "AccessDenied"},
		{"bad session name", assumeForm(AWSRoleARN, "has space", token), 400, "ValidationError"},
		{"missing role", assumeForm("", "s1", token), 400, "ValidationError"},
		{"duration above role maximum", func() url.Values {
			f := assumeForm(AWSRoleARN, "s1", token)
			f.Set("DurationSeconds", "7200")
			return f
		}(), 400, "ValidationError"},
		{"not a jwt", assumeForm(AWSRoleARN, "s1", "abcd"), 400, "InvalidIdentityToken"},
		{"unknown action", url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}}, 400, "InvalidAction"},
	}
	for _, c := range cases {
		status, body := assumeRole(t, s, c.form)
		if e := stsErrorOf(t, body); status != c.status || e.Code != c.code || e.Type != "Sender" || e.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", c.name, status, e, c.status, c.code)
		}
	}
	status, body = assumeRole(t, s, assumeForm(AWSRoleARN, "s1", mint(mintRequest{audience: Audience, extra: map[string]any{"iss": "https://issuer.example"}})))
	if e := stsErrorOf(t, body); e.Message != "No OpenIDConnect provider found in your account for https://issuer.example" {
		t.Errorf("foreign issuer message: %d %q", status, e.Message)
	}
	if n := len(s.Credentials()); n != 2 {
		t.Errorf("ledger has %d credentials, want 2 (refusals issue nothing)", n)
	}
}

// signedCallerIdentity signs a GetCallerIdentity request with SigV4.
func signedCallerIdentity(t *testing.T, s *Stack, c stsCreds, secret string, at time.Time) (int, []byte) {
	t.Helper()
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	req, err := http.NewRequest(http.MethodPost, s.STSURL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	amzDate := at.UTC().Format(amzDateFormat)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Date", amzDate)
	signed := []string{"content-type", "host", "x-amz-date"}
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
		signed = append(signed, "x-amz-security-token")
	}
	creq := sigV4CanonicalRequest(req, []byte(body), signed)
	sig := sigV4Signature(secret, amzDate, amzDate[:8], "eu-west-1", "sts", creq)
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s/eu-west-1/sts/aws4_request, SignedHeaders=%s, Signature=%s",
		c.AccessKeyID, amzDate[:8], strings.Join(signed, ";"), sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// issueAWS assumes the devstack role and returns the credentials.
func issueAWS(t *testing.T, s *Stack, duration string) stsCreds {
	t.Helper()
	token, err := s.MintToken("", Audience)
	if err != nil {
		t.Fatal(err)
	}
	form := assumeForm(AWSRoleARN, "caller", token)
	form.Set("DurationSeconds", duration)
	status, body := assumeRole(t, s, form)
	if status != http.StatusOK {
		t.Fatalf("assume: %d %s", status, body)
	}
	var resp struct {
		Creds stsCreds `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Creds
}

func TestSTSGetCallerIdentity(t *testing.T) {
	s := startStack(t, Options{})
	c := issueAWS(t, s, "900")
	status, body := signedCallerIdentity(t, s, c, c.SecretAccessKey, time.Now())
	if status != http.StatusOK {
		t.Fatalf("GetCallerIdentity: %d %s", status, body)
	}
	var who struct {
		Arn     string `xml:"GetCallerIdentityResult>Arn"`
		UserID  string `xml:"GetCallerIdentityResult>UserId"`
		Account string `xml:"GetCallerIdentityResult>Account"`
	}
	if err := xml.Unmarshal(body, &who); err != nil {
		t.Fatal(err)
	}
	if who.Account != AWSAccountID || !strings.HasSuffix(who.Arn, ":assumed-role/chaperone-devstack/caller") || !strings.HasSuffix(who.UserID, ":caller") {
		t.Errorf("caller identity: %s", body)
	}

	unknown := c
	unknown.AccessKeyID = "ASIA" + strings.Repeat("Z", 16)
	noSession := c
	noSession.SessionToken = ""
	otherSession := c
	otherSession.SessionToken = c.SessionToken + "x"
	cases := []struct {
		name   string
		creds  stsCreds
		secret string
		at     time.Time
		code   string
	}{
		{"wrong secret", c, c.SecretAccessKey + "x", time.Now(), "SignatureDoesNotMatch"},
		{"unknown key", unknown, c.SecretAccessKey, time.Now(), "InvalidClientTokenId"},
		{"missing session token", noSession, c.SecretAccessKey, time.Now(), "InvalidClientTokenId"},
		{"wrong session token", otherSession, c.SecretAccessKey, time.Now(), "InvalidClientTokenId"},
		{"stale signature", c, c.SecretAccessKey, time.Now().Add(-20 * time.Minute), "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		status, body := signedCallerIdentity(t, s, tc.creds, tc.secret, tc.at)
		if e := stsErrorOf(t, body); status != http.StatusForbidden || e.Code != tc.code {
			t.Errorf("%s: %d %+v, want 403 %s", tc.name, status, e, tc.code)
		}
	}
	status, body = call(t, http.MethodPost, s.STSURL+"/", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "Action=GetCallerIdentity&Version=2011-06-15")
	if e := stsErrorOf(t, body); status != http.StatusForbidden || e.Code != "MissingAuthenticationToken" {
		t.Errorf("unsigned: %d %+v", status, e)
	}

	// Keys stop working when they expire.
	expiring := issueAWS(t, s, "900")
	s.expireAWSForTest(t, expiring.AccessKeyID)
	status, body = signedCallerIdentity(t, s, expiring, expiring.SecretAccessKey, time.Now())
	if e := stsErrorOf(t, body); status != http.StatusForbidden || e.Code != "ExpiredToken" {
		t.Errorf("expired key: %d %+v, want 403 ExpiredToken", status, e)
	}
}

// expireAWSForTest moves a key's ledger expiry into the past (STS has a
// 900 s minimum duration, too long to wait for).
func (s *Stack) expireAWSForTest(t *testing.T, accessKeyID string) {
	t.Helper()
	s.ledger.mu.Lock()
	defer s.ledger.mu.Unlock()
	for _, c := range s.ledger.records {
		if c.Provider == ProviderAWS && c.ID == accessKeyID {
			c.ExpiresAt = time.Now().Add(-time.Second)
			return
		}
	}
	t.Fatalf("no ledger record for %s", accessKeyID)
}

// TestSTSWithAWSCLI drives the stand-in with the real AWS CLI (botocore's
// XML parser and SigV4 signer) when it is installed.
func TestSTSWithAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	s := startStack(t, Options{})
	token, err := s.MintToken("", "sts.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	baseEnv := []string{"HOME=" + home, "AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_DEFAULT_REGION=eu-west-1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			baseEnv = append(baseEnv, kv)
		}
	}
	run := func(env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(awsCLI, append(args, "--endpoint-url", s.STSURL, "--output", "json")...)
		cmd.Env = append(baseEnv, env...)
		return cmd.CombinedOutput()
	}

	out, err := run(nil, "sts", "assume-role-with-web-identity", "--role-arn", AWSRoleARN,
		"--role-session-name", "cli-session", "--web-identity-token", token, "--duration-seconds", "900")
	if err != nil {
		t.Fatalf("aws sts assume-role-with-web-identity: %v\n%s", err, out)
	}
	var assumed struct {
		Credentials struct {
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string `json:"SecretAccessKey"`
			SessionToken    string `json:"SessionToken"`
		} `json:"Credentials"`
		SubjectFromWebIdentityToken string `json:"SubjectFromWebIdentityToken"`
	}
	if err := json.Unmarshal(out, &assumed); err != nil {
		t.Fatalf("CLI output: %v\n%s", err, out)
	}
	if assumed.SubjectFromWebIdentityToken == "" || assumed.Credentials.SessionToken == "" {
		t.Fatalf("CLI output: %s", out)
	}

	keys := []string{"AWS_ACCESS_KEY_ID=" + assumed.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + assumed.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN=" + assumed.Credentials.SessionToken}
	out, err = run(keys, "sts", "get-caller-identity")
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "assumed-role/chaperone-devstack/cli-session") {
		t.Errorf("get-caller-identity: %s", out)
	}

	keys[1] = "AWS_SECRET_ACCESS_KEY=" + strings.Repeat("A", 40)
	out, err = run(keys, "sts", "get-caller-identity")
	if err == nil || !strings.Contains(string(out), "SignatureDoesNotMatch") {
		t.Errorf("get-caller-identity with a wrong secret: %v\n%s", err, out)
	}
}
