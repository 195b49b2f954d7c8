package devstack

import (
	"crypto/subtle"
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
	// TokenExchangeClientID is the confidential client registered at the
	// token-exchange stand-in; its secret is Stack.TokenExchangeClientSecret.
	// Public clients (no client authentication) are accepted too.
	TokenExchangeClientID = "chaperone-devstack"
	// TokenExchangeTarget is the one RFC 8693 "audience" (target service)
	// the stand-in issues tokens for; "resource" may instead name
	// Stack.TokenResourceURL. Omitting both means this target.
	TokenExchangeTarget = "chaperone-devstack-api"

	oauthTokenPath      = "/oauth2/token"
	oauthRevokePath     = "/oauth2/revoke"
	oauthResourcePath   = "/resource"
	oauthMetadataPath   = "/.well-known/oauth-authorization-server"
	oauthDefaultScope   = "read"
	oauthTokenTTL       = 15 * time.Minute
	tokenExchangePrefix = "dx_"
	// maxExchangeRecords bounds the exchanges the stand-in remembers; the
	// oldest are forgotten first.
	maxExchangeRecords = 1000
)

// oauthStandardParameters are the token request's form fields that OAuth
// 2.0 (RFC 6749, client authentication included, and RFC 7521's client
// assertions) and RFC 8693 define; any other is an extension parameter.
func oauthStandardParameters() []string {
	return []string{
		"grant_type", "subject_token", "subject_token_type", "actor_token", "actor_token_type",
		"requested_token_type", "audience", "resource", "scope",
		"client_id", "client_secret", "client_assertion", "client_assertion_type",
	}
}

// TokenExchangeRequest is what the token-exchange stand-in saw of one
// request to its token endpoint that was a well-formed form.
type TokenExchangeRequest struct {
	// SubjectTokenType is the subject_token_type sent.
	SubjectTokenType string
	// Parameters are the extension parameters sent (form fields that
	// neither OAuth 2.0 nor RFC 8693 defines, such as Dex's connector_id),
	// with every value of each.
	Parameters url.Values
	// Status is the HTTP status of the answer.
	Status int
}

// TokenExchangeRequests returns, oldest first, what the token-exchange
// stand-in saw of the last requests to its token endpoint (at most 1000).
// The slice and its Parameters are copies.
func (s *Stack) TokenExchangeRequests() []TokenExchangeRequest {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	out := make([]TokenExchangeRequest, len(s.oauth.requests))
	for i, r := range s.oauth.requests {
		r.Parameters = cloneValues(r.Parameters)
		out[i] = r
	}
	return out
}

// RequireTokenExchangeParameter makes the token-exchange stand-in refuse,
// from now on, every exchange that does not send the extension parameter
// name with value (400 invalid_request, naming the parameter), as Dex
// refuses an exchange without its connector_id. Requiring a name again
// replaces its value; an empty value lifts the requirement.
func (s *Stack) RequireTokenExchangeParameter(name, value string) {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	if value == "" {
		delete(s.oauth.required, name)
		return
	}
	s.oauth.required[name] = value
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// oauthScopes are the scopes the stand-in knows.
func oauthScopes() []string { return []string{"read", "write"} }

// exchangedToken is the server-side state of an access token it issued;
// validity (expiry, revocation) lives in the ledger.
type exchangedToken struct {
	subject  string
	clientID string
	scope    string
}

// oauthServer is a generic OAuth 2.0 authorization server: an RFC 8693
// token exchange endpoint, an RFC 7009 revocation endpoint, RFC 8414
// metadata, and a protected resource that accepts only live tokens.
type oauthServer struct {
	baseURL      string
	verifier     *tokenVerifier
	ledger       *ledger
	maxTTL       time.Duration
	clientSecret string
	subjects     []*regexp.Regexp

	mu       sync.Mutex
	issued   int
	tokens   map[string]exchangedToken // by fingerprint
	requests []TokenExchangeRequest    // the last maxExchangeRecords
	required map[string]string         // extension parameters every exchange must send
}

func newOAuthServer(baseURL string, v *tokenVerifier, l *ledger, maxTTL time.Duration) *oauthServer {
	repo := regexp.QuoteMeta(Repository)
	return &oauthServer{
		baseURL: baseURL, verifier: v, ledger: l, maxTTL: maxTTL,
		clientSecret: randomString(40, alnumChars),
		subjects: []*regexp.Regexp{
			regexp.MustCompile(`^repo:` + repo + `:.+$`),
			regexp.MustCompile(`^project_path:` + repo + `:.+$`),
		},
		tokens:   map[string]exchangedToken{},
		required: map[string]string{},
	}
}

func (o *oauthServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+oauthTokenPath, o.token)
	mux.HandleFunc("POST "+oauthRevokePath, o.revoke)
	mux.HandleFunc(oauthResourcePath, o.resource)
	mux.HandleFunc("GET "+oauthMetadataPath, o.metadata)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oauthError(w, http.StatusNotFound, "invalid_request", "no such endpoint: "+r.URL.Path)
	})
	return mux
}

// oauthError writes an RFC 6749 section 5.2 error.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="chaperone-devstack"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func oauthFault(w http.ResponseWriter, status int, msg string) {
	oauthError(w, status, oauthErrorCode(status), msg)
}

func (o *oauthServer) metadata(w http.ResponseWriter, r *http.Request) {
	auth := []string{"none", "client_secret_basic", "client_secret_post"}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     o.baseURL,
		"token_endpoint":                             o.baseURL + oauthTokenPath,
		"revocation_endpoint":                        o.baseURL + oauthRevokePath,
		"grant_types_supported":                      []string{gcpTokenExchangeGrant},
		"scopes_supported":                           oauthScopes(),
		"token_endpoint_auth_methods_supported":      auth,
		"revocation_endpoint_auth_methods_supported": auth,
	})
}

// clientOf authenticates the client of a token or revocation request:
// client_secret_basic, client_secret_post, or a public client (no secret,
// no client_id). ok is false when the response has been written.
func (o *oauthServer) clientOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 section 2.3.1: form-encoded before base64.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "malformed client credentials")
			return "", false
		}
		if r.PostForm.Has("client_secret") {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the client used more than one authentication method")
			return "", false
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case id == "" && secret == "":
		return "", true // public client
	case id != TokenExchangeClientID:
		oauthError(w, http.StatusUnauthorized, "invalid_client", fmt.Sprintf("unknown client %q", id))
		return "", false
	case secret == "":
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication required")
		return "", false
	case subtle.ConstantTimeCompare([]byte(secret), []byte(o.clientSecret)) != 1:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return "", false
	}
	return id, true
}

func (o *oauthServer) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the request must be application/x-www-form-urlencoded")
		return false
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form body: "+err.Error())
		return false
	}
	return true
}

// token is the RFC 8693 token exchange: the job's OIDC token (subject
// token) for an access token to TokenExchangeTarget. Every well-formed
// request is recorded (TokenExchangeRequests).
func (o *oauthServer) token(rw http.ResponseWriter, r *http.Request) {
	if !o.parseForm(rw, r) {
		return
	}
	w := &statusWriter{ResponseWriter: rw}
	f := r.PostForm
	defer o.record(f, w)
	clientID, ok := o.clientOf(w, r)
	if !ok {
		return
	}
	if name, msg, ok := o.missingParameter(f); !ok {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("%s: %s", name, msg))
		return
	}
	if gt := f.Get("grant_type"); gt != gcpTokenExchangeGrant {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; use %s", gt, gcpTokenExchangeGrant))
		return
	}
	if stt := f.Get("subject_token_type"); stt != gcpJWTTokenType && stt != gcpIDTokenType {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("subject_token_type %q is not supported; use %s or %s", stt, gcpJWTTokenType, gcpIDTokenType))
		return
	}
	if rtt := f.Get("requested_token_type"); rtt != "" && rtt != gcpAccessTokenType {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("requested_token_type %q is not supported; this server issues %s", rtt, gcpAccessTokenType))
		return
	}
	if f.Has("actor_token") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "delegation (actor_token) is not supported")
		return
	}
	for _, a := range f["audience"] {
		if a != TokenExchangeTarget {
			oauthError(w, http.StatusBadRequest, "invalid_target", fmt.Sprintf("unknown audience %q", a))
			return
		}
	}
	for _, res := range f["resource"] {
		if res != o.baseURL+oauthResourcePath {
			oauthError(w, http.StatusBadRequest, "invalid_target", fmt.Sprintf("unknown resource %q", res))
			return
		}
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		scopes = []string{oauthDefaultScope}
	}
	for _, s := range scopes {
		if !slices.Contains(oauthScopes(), s) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("unknown scope %q", s))
			return
		}
	}
	subject := f.Get("subject_token")
	if subject == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token is required")
		return
	}

	// RFC 8693 section 2.2.2: an invalid or unacceptable subject token is
	// invalid_request.
	now := time.Now()
	tok, err := o.verifier.verify(subject, now, 0)
	var untrusted *issuerError
	switch {
	case err == nil:
	case errors.As(err, &untrusted):
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("subject_token: issuer %q is not trusted", untrusted.issuer))
		return
	case errors.Is(err, jwt.ErrExpired):
		oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token: token is expired")
		return
	default:
		oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token: "+err.Error())
		return
	}
	if !slices.ContainsFunc(tok.audience, func(a string) bool { return a == o.baseURL || a == Audience }) {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("subject_token: audience %q is not accepted (want %s or %s)", tok.audience, o.baseURL, Audience))
		return
	}
	if !slices.ContainsFunc(o.subjects, func(re *regexp.Regexp) bool { return re.MatchString(tok.subject) }) {
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("subject_token: subject %q is not allowed by the exchange policy", tok.subject))
		return
	}

	ttl := capTTL(oauthTokenTTL, o.maxTTL)
	token := tokenExchangePrefix + randomString(43, alnumChars)
	scope := strings.Join(scopes, " ")
	o.mu.Lock()
	o.issued++
	id := "exchanged-token-" + strconv.Itoa(o.issued)
	o.tokens[fingerprint(token)] = exchangedToken{subject: tok.subject, clientID: clientID, scope: scope}
	o.mu.Unlock()
	restrictions := map[string]any{"scope": scope}
	if res := f["resource"]; len(res) > 0 {
		restrictions["resource"] = res
	}
	if aud := f["audience"]; len(aud) > 0 {
		restrictions["audience"] = aud
	}
	o.ledger.recordRestricted(ProviderTokenExchange, id, token, now, now.Add(ttl), restrictions)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      token,
		"issued_token_type": gcpAccessTokenType,
		"token_type":        "Bearer",
		"expires_in":        int(ttl.Seconds()),
		"scope":             scope,
	})
}

// record remembers a token request and the status it was answered with.
func (o *oauthServer) record(f url.Values, w *statusWriter) {
	params := url.Values{}
	for name, values := range f {
		if !slices.Contains(oauthStandardParameters(), name) {
			params[name] = slices.Clone(values)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.requests) == maxExchangeRecords {
		o.requests = slices.Delete(o.requests, 0, 1)
	}
	o.requests = append(o.requests, TokenExchangeRequest{SubjectTokenType: f.Get("subject_token_type"), Parameters: params, Status: w.status})
}

// missingParameter checks the required extension parameters: ok is false,
// with the parameter's name and what is wrong, when one is absent or has
// another value.
func (o *oauthServer) missingParameter(f url.Values) (name, msg string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := make([]string, 0, len(o.required))
	for n := range o.required {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		switch got := f.Get(n); {
		case !f.Has(n):
			return n, "this server requires it", false
		case got != o.required[n]:
			return n, fmt.Sprintf("%q is not known here", got), false
		}
	}
	return "", "", true
}

// revoke is RFC 7009: POST token=…[&token_type_hint=…] → 200, also for
// tokens it does not know (section 2.2). A public client may revoke only
// tokens issued to no client; the registered client only its own.
func (o *oauthServer) revoke(w http.ResponseWriter, r *http.Request) {
	if !o.parseForm(w, r) {
		return
	}
	clientID, ok := o.clientOf(w, r)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	if hint := r.PostForm.Get("token_type_hint"); hint != "" && hint != "access_token" && hint != "refresh_token" {
		oauthError(w, http.StatusBadRequest, "unsupported_token_type", fmt.Sprintf("token_type_hint %q is not supported", hint))
		return
	}
	o.mu.Lock()
	t, known := o.tokens[fingerprint(token)]
	o.mu.Unlock()
	if known && t.clientID != clientID {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the token was not issued to this client")
		return
	}
	if known {
		o.ledger.revoke(ProviderTokenExchange, token, time.Now())
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// resource is the protected resource: 200 with what the token grants when
// it is live, RFC 6750 invalid_token otherwise.
func (o *oauthServer) resource(w http.ResponseWriter, r *http.Request) {
	token := bearerToken(r, "Bearer")
	_, state := o.ledger.check(ProviderTokenExchange, token, time.Now())
	if token == "" || state != credentialValid {
		reason := map[credentialState]string{
			credentialUnknown: "the access token is unknown",
			credentialExpired: "the access token expired",
			credentialRevoked: "the access token was revoked",
		}[state]
		if token == "" {
			reason = "a bearer token is required"
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="chaperone-devstack", error="invalid_token", error_description=%q`, reason))
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": reason})
		return
	}
	o.mu.Lock()
	t := o.tokens[fingerprint(token)]
	o.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"subject": t.subject, "scope": t.scope, "client_id": t.clientID, "audience": TokenExchangeTarget})
}
