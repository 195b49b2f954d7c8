package devstack

import (
	"crypto/hmac"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// AWSAccountID is the account of the devstack's AWS stand-in.
	AWSAccountID = "123456789012"
	// AWSRoleARN is the one role the STS stand-in lets the devstack job
	// assume with AssumeRoleWithWebIdentity. Its trust policy accepts the
	// devstack issuer, audience sts.amazonaws.com or Audience, and the
	// GitHub or GitLab subject of Repository.
	AWSRoleARN = "arn:aws:iam::" + AWSAccountID + ":role/" + awsRoleName

	awsRoleName           = "chaperone-devstack"
	stsNamespace          = "https://sts.amazonaws.com/doc/2011-06-15/"
	stsVersion            = "2011-06-15"
	stsDefaultAudience    = "sts.amazonaws.com"
	stsMinDuration        = 900
	stsMaxSessionDuration = 3600 // the role's MaxSessionDuration (AWS's default)
	stsMaxRequestSkew     = 15 * time.Minute
)

var roleSessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// awsSession is a set of temporary credentials the stand-in issued. Its
// validity (expiry) is the ledger's.
type awsSession struct {
	secretAccessKey string
	sessionToken    string
	arn             string
	userID          string
}

// stsServer stands in for AWS STS's query API.
type stsServer struct {
	verifier     *tokenVerifier
	ledger       *ledger
	maxTTL       time.Duration // Options.CredentialTTL; 0: no cap
	provider     string        // OIDC provider ARN of the devstack issuer
	roleID       string        // the role's unique id (AROA…)
	subjectGlobs []*regexp.Regexp

	mu       sync.Mutex
	sessions map[string]*awsSession // by access key id
}

func newSTSServer(issuerURL string, v *tokenVerifier, l *ledger, maxTTL time.Duration) *stsServer {
	host := strings.TrimPrefix(strings.TrimPrefix(issuerURL, "https://"), "http://")
	repo := regexp.QuoteMeta(Repository)
	return &stsServer{
		verifier: v,
		ledger:   l,
		maxTTL:   maxTTL,
		provider: "arn:aws:iam::" + AWSAccountID + ":oidc-provider/" + host,
		roleID:   "AROA" + randomString(17, upperChars+digitChars),
		// StringLike conditions on the sub claim.
		subjectGlobs: []*regexp.Regexp{
			regexp.MustCompile(`^repo:` + repo + `:.*$`),
			regexp.MustCompile(`^project_path:` + repo + `:.*$`),
		},
		sessions: map[string]*awsSession{},
	}
}

// stsError is AWS's query-API error document.
type stsError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeSTSError(w http.ResponseWriter, status int, code, format string, args ...any) {
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	writeXML(w, status, stsError{Xmlns: stsNamespace, Type: kind, Code: code, Message: fmt.Sprintf(format, args...), RequestID: randomUUID()})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "internal error encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", randomUUID())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumeRoleWithWebIdentityResponse struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
		Audience                    string `xml:"Audience"`
		AssumedRoleUser             struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials stsCredentials `xml:"Credentials"`
		Provider    string         `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

// ServeHTTP dispatches on the Action parameter (query or form body), as
// the STS query API does.
func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "" {
		writeSTSError(w, http.StatusNotFound, "UnknownOperationException", "Unknown operation %s", r.URL.Path)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeSTSError(w, http.StatusMethodNotAllowed, "InvalidAction", "method %s is not supported", r.Method)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeSTSError(w, http.StatusBadRequest, "ValidationError", "%s", err)
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			writeSTSError(w, http.StatusBadRequest, "MalformedQueryString", "the request body is not a valid form: %v", err)
			return
		}
		for k, vs := range form {
			params[k] = append(params[k], vs...)
		}
	}
	switch action := params.Get("Action"); action {
	case "AssumeRoleWithWebIdentity":
		s.assumeRoleWithWebIdentity(w, params)
	case "GetCallerIdentity":
		s.getCallerIdentity(w, r, body)
	case "":
		writeSTSError(w, http.StatusBadRequest, "MissingAction", "Missing Action")
	default:
		writeSTSError(w, http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, stsVersion)
	}
}

// assumeRoleWithWebIdentity validates parameters, the token and the role's
// trust policy, then issues temporary credentials. It is an unsigned call.
func (s *stsServer) assumeRoleWithWebIdentity(w http.ResponseWriter, p url.Values) {
	roleARN, sessionName, token := p.Get("RoleArn"), p.Get("RoleSessionName"), p.Get("WebIdentityToken")
	for _, req := range []struct{ name, value string }{{"roleArn", roleARN}, {"roleSessionName", sessionName}, {"webIdentityToken", token}} {
		if req.value == "" {
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", req.name)
			return
		}
	}
	if !roleSessionNamePattern.MatchString(sessionName) {
		writeSTSError(w, http.StatusBadRequest, "ValidationError", `1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and satisfy regular expression pattern: [\w+=,.@-]*`, sessionName)
		return
	}
	duration := stsMaxSessionDuration
	if raw := p.Get("DurationSeconds"); raw != "" {
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "Value '%s' for parameter DurationSeconds is invalid. It should be an integer.", raw)
			return
		case n < stsMinDuration || n > 43200:
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between %d and 43200", n, stsMinDuration)
			return
		case n > stsMaxSessionDuration:
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
			return
		}
		duration = n
	}

	restrictions, ok := sessionPolicies(w, p)
	if !ok {
		return
	}

	now := time.Now()
	tok, err := s.verifier.verify(token, now, 0)
	var untrusted *issuerError
	switch {
	case err == nil:
	case errors.As(err, &untrusted):
		writeSTSError(w, http.StatusBadRequest, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for %s", untrusted.issuer)
		return
	case errors.Is(err, errTokenMalformed):
		writeSTSError(w, http.StatusBadRequest, "InvalidIdentityToken", "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
		return
	case errors.Is(err, jwt.ErrExpired):
		writeSTSError(w, http.StatusBadRequest, "ExpiredTokenException", "Token expired: current date/time %d must be before the expiration date/time %s", now.Unix(), expiryOf(token))
		return
	default:
		writeSTSError(w, http.StatusBadRequest, "InvalidIdentityToken", "Couldn't verify the web identity token: %v", err)
		return
	}
	audience := ""
	for _, a := range tok.audience {
		if a == stsDefaultAudience || a == Audience {
			audience = a
			break
		}
	}
	if audience == "" {
		writeSTSError(w, http.StatusBadRequest, "InvalidIdentityToken", "Incorrect token audience")
		return
	}
	if roleARN != AWSRoleARN || !s.trusts(tok.subject) {
		writeSTSError(w, http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
		return
	}

	expires := now.Add(capTTL(time.Duration(duration)*time.Second, s.maxTTL)).UTC().Truncate(time.Second)
	sess := &awsSession{
		secretAccessKey: randomString(40, base64Chars),
		// Real session tokens start with this (base64 of a protobuf
		// header); masking detectors and humans both recognise it.
		sessionToken: "IQoJb3JpZ2luX2Vj" + randomString(340, base64Chars),
		arn:          fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", AWSAccountID, awsRoleName, sessionName),
		userID:       s.roleID + ":" + sessionName,
	}
	accessKeyID := "ASIA" + randomString(16, upperChars+digitChars)
	s.mu.Lock()
	s.sessions[accessKeyID] = sess
	s.mu.Unlock()
	s.ledger.recordRestricted(ProviderAWS, accessKeyID, sess.secretAccessKey, now, expires, restrictions)

	var resp assumeRoleWithWebIdentityResponse
	resp.Xmlns = stsNamespace
	resp.Result.SubjectFromWebIdentityToken = tok.subject
	resp.Result.Audience = audience
	resp.Result.AssumedRoleUser.Arn = sess.arn
	resp.Result.AssumedRoleUser.AssumedRoleID = sess.userID
	resp.Result.Credentials = stsCredentials{
		AccessKeyID:     accessKeyID,
		SecretAccessKey: sess.secretAccessKey,
		SessionToken:    sess.sessionToken,
		Expiration:      expires.Format(time.RFC3339),
	}
	resp.Result.Provider = s.provider
	resp.Metadata.RequestID = randomUUID()
	writeXML(w, http.StatusOK, resp)
}

// Session policy limits of AssumeRoleWithWebIdentity.
const (
	stsMaxPolicyLength = 2048
	stsMaxPolicyARNs   = 10
)

var stsPolicyARN = regexp.MustCompile(`^arn:[\w+=/,.@-]+:iam::(\d{12}|aws):policy/[\w+=/,.@-]+$`)

// sessionPolicies checks the request's session policies as STS does (an
// inline Policy of at most 2,048 characters that is a JSON policy
// document; at most 10 PolicyArns.member.N.arn) and returns them as the
// ledger records them (nil for none); on a refusal it has answered.
func sessionPolicies(w http.ResponseWriter, p url.Values) (map[string]any, bool) {
	out := map[string]any{}
	if policy, ok := p["Policy"]; ok {
		doc := policy[0]
		if len(doc) < 1 || len(doc) > stsMaxPolicyLength {
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", stsMaxPolicyLength)
			return nil, false
		}
		var parsed map[string]any
		if json.Unmarshal([]byte(doc), &parsed) != nil {
			writeSTSError(w, http.StatusBadRequest, "MalformedPolicyDocument", "The policy is not in the valid JSON format.")
			return nil, false
		}
		if _, ok := parsed["Statement"]; !ok {
			writeSTSError(w, http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
			return nil, false
		}
		out["policy"] = doc
	}
	var arns []string
	for i := 1; ; i++ {
		arn, ok := p[fmt.Sprintf("PolicyArns.member.%d.arn", i)]
		if !ok {
			break
		}
		if !stsPolicyARN.MatchString(arn[0]) {
			writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value '%s' at 'policyArns.%d.member.arn' failed to satisfy constraint: Member must satisfy the ARN pattern", arn[0], i)
			return nil, false
		}
		arns = append(arns, arn[0])
	}
	if len(arns) > stsMaxPolicyARNs {
		writeSTSError(w, http.StatusBadRequest, "ValidationError", "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to %d", stsMaxPolicyARNs)
		return nil, false
	}
	if len(arns) > 0 {
		out["policyArns"] = arns
	}
	if len(out) == 0 {
		return nil, true
	}
	return out, true
}

// trusts applies the role trust policy's StringLike condition on sub.
func (s *stsServer) trusts(subject string) bool {
	for _, g := range s.subjectGlobs {
		if g.MatchString(subject) {
			return true
		}
	}
	return false
}

// expiryOf returns a token's exp claim for an error message.
func expiryOf(raw string) string {
	tok, err := jwt.ParseSigned(raw, nil)
	if err != nil {
		return "unknown"
	}
	var c jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil || c.Expiry == nil {
		return "unknown"
	}
	return strconv.FormatInt(c.Expiry.Time().Unix(), 10)
}

// getCallerIdentity verifies the request's SigV4 signature with a key this
// stand-in issued and says whose it is.
func (s *stsServer) getCallerIdentity(w http.ResponseWriter, r *http.Request, body []byte) {
	header := r.Header.Get("Authorization")
	if header == "" {
		writeSTSError(w, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	auth, err := parseSigV4Authorization(header)
	if err != nil {
		writeSTSError(w, http.StatusBadRequest, "IncompleteSignature", "%v", err)
		return
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		writeSTSError(w, http.StatusBadRequest, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		return
	}
	now := time.Now().UTC()
	switch {
	case auth.service != "sts":
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'.")
		return
	case auth.date != amzDate[:8]:
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", auth.date, amzDate[:8], amzDate)
		return
	case signedAt.Before(now.Add(-stsMaxRequestSkew)):
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s (%s - 15 min.)", amzDate, now.Add(-stsMaxRequestSkew).Format(amzDateFormat), now.Format(amzDateFormat))
		return
	case signedAt.After(now.Add(stsMaxRequestSkew)):
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "Signature not yet current: %s is still later than %s (%s + 15 min.)", amzDate, now.Add(stsMaxRequestSkew).Format(amzDateFormat), now.Format(amzDateFormat))
		return
	case !slices.Contains(auth.signedHeaders, "host"):
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
		return
	}

	s.mu.Lock()
	sess, ok := s.sessions[auth.accessKeyID]
	s.mu.Unlock()
	// Temporary credentials are only valid with their session token.
	if !ok || !hmac.Equal([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(sess.sessionToken)) {
		writeSTSError(w, http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if _, state := s.ledger.check(ProviderAWS, sess.secretAccessKey, time.Now()); state != credentialValid {
		writeSTSError(w, http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
		return
	}
	canonical := sigV4CanonicalRequest(r, body, auth.signedHeaders)
	want := sigV4Signature(sess.secretAccessKey, amzDate, auth.date, auth.region, auth.service, canonical)
	if !hmac.Equal([]byte(want), []byte(auth.signature)) {
		writeSTSError(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
		return
	}

	var resp getCallerIdentityResponse
	resp.Xmlns = stsNamespace
	resp.Result.Arn = sess.arn
	resp.Result.UserID = sess.userID
	resp.Result.Account = AWSAccountID
	resp.Metadata.RequestID = randomUUID()
	writeXML(w, http.StatusOK, resp)
}
