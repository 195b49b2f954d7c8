package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
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
	// GCPProjectNumber and GCPProjectID name the devstack's Google Cloud
	// project.
	GCPProjectNumber = "424242424242"
	GCPProjectID     = "chaperone-devstack"
	// GCPWorkloadIdentityProvider is the workload identity pool provider
	// that trusts the devstack issuer. Its attribute mapping sets
	// attribute.repository from the token's repository claim (GitLab:
	// project_path), and its attribute condition admits only Repository.
	// It accepts tokens whose aud is "https://iam.googleapis.com/" + this
	// name (Google's default) or Audience.
	GCPWorkloadIdentityProvider = "projects/" + GCPProjectNumber + "/locations/global/workloadIdentityPools/" +
		gcpPoolID + "/providers/" + gcpProviderID
	// GCPServiceAccount is the service account that principals of the pool
	// with attribute.repository = Repository may impersonate
	// (roles/iam.workloadIdentityUser). Every other account is refused.
	GCPServiceAccount = "chaperone-devstack@" + GCPProjectID + ".iam.gserviceaccount.com"

	gcpPoolID             = "chaperone-devstack"
	gcpProviderID         = "devstack"
	gcpIAMHost            = "//iam.googleapis.com/"
	gcpCloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	gcpTokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	gcpAccessTokenType    = "urn:ietf:params:oauth:token-type:access_token"
	gcpJWTTokenType       = "urn:ietf:params:oauth:token-type:jwt"
	gcpIDTokenType        = "urn:ietf:params:oauth:token-type:id_token"
	gcpFederatedTTL       = 3600 * time.Second // Google's fixed federated token life
	gcpMaxLifetime        = 3600 * time.Second // without the lifetime-extension org policy
	gcpSTSDocsURL         = "https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token"
)

var gcpProviderName = regexp.MustCompile(`^projects/[^/]+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)

// gcpPrincipal is what a federated token stands for: the mapped
// attributes of the subject token, and the scopes it was granted.
type gcpPrincipal struct {
	subject    string
	repository string
	scopes     []string
}

// gcpAccessToken is a service account token, for tokeninfo.
type gcpAccessToken struct {
	email  string
	scopes []string
}

// gcpServer stands in for sts.googleapis.com (token exchange, and the
// oauth2.googleapis.com tokeninfo endpoint) and iamcredentials.googleapis.com
// (generateAccessToken). Validity of every token lives in the ledger.
type gcpServer struct {
	issuerURL string
	verifier  *tokenVerifier
	ledger    *ledger
	maxTTL    time.Duration // 0: no cap

	mu        sync.Mutex
	issued    int
	federated map[string]gcpPrincipal   // by fingerprint
	saTokens  map[string]gcpAccessToken // by fingerprint
}

func newGCPServer(issuerURL string, v *tokenVerifier, l *ledger, maxTTL time.Duration) *gcpServer {
	return &gcpServer{
		issuerURL: issuerURL, verifier: v, ledger: l, maxTTL: maxTTL,
		federated: map[string]gcpPrincipal{}, saTokens: map[string]gcpAccessToken{},
	}
}

func (g *gcpServer) stsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/token", g.exchange)
	mux.HandleFunc("GET /tokeninfo", g.tokenInfo)
	mux.HandleFunc("POST /tokeninfo", g.tokenInfo)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		googleAPIError(w, http.StatusNotFound, "The requested URL "+r.URL.Path+" was not found on this server.")
	})
	return mux
}

func (g *gcpServer) iamRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/projects/{project}/serviceAccounts/{call}", g.generateAccessToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		googleAPIError(w, http.StatusNotFound, "The requested URL "+r.URL.Path+" was not found on this server.")
	})
	return mux
}

// capTTL applies Options.CredentialTTL.
func capTTL(d, maxTTL time.Duration) time.Duration {
	if maxTTL > 0 && d > maxTTL {
		return maxTTL
	}
	return d
}

// stsOAuthError is Google STS's error body: RFC 6749 section 5.2.
func stsOAuthError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": fmt.Sprintf(format, args...)})
}

func gcpSTSFault(w http.ResponseWriter, status int, msg string) {
	stsOAuthError(w, status, oauthErrorCode(status), "%s", msg)
}

// googleAPIError is the error body of Google's JSON APIs
// (google.rpc.Status in its HTTP mapping).
func googleAPIError(w http.ResponseWriter, status int, msg string, details ...any) {
	if details == nil {
		details = []any{}
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": googleStatus(status), "details": details,
	}})
}

func googleStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func gcpIAMFault(w http.ResponseWriter, status int, msg string) { googleAPIError(w, status, msg) }

// requestParams reads a JSON object (Google's proto JSON: lowerCamel or
// the original snake_case names) or a form body into one lookup function.
func requestParams(w http.ResponseWriter, r *http.Request) (func(snake string) string, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "application/json" {
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("invalid JSON payload received: %v", err)
		}
		return func(snake string) string {
			for _, k := range []string{snake, lowerCamel(snake)} {
				if v, ok := obj[k].(string); ok {
					return v
				}
			}
			return ""
		}, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("invalid form payload: %v", err)
	}
	return form.Get, nil
}

func lowerCamel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// exchange is POST /v1/token: an RFC 8693 exchange of the job's OIDC token
// for a federated access token, checked as Google's STS checks it.
func (g *gcpServer) exchange(w http.ResponseWriter, r *http.Request) {
	param, err := requestParams(w, r)
	if err != nil {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "%v", err)
		return
	}
	if gt := param("grant_type"); gt != gcpTokenExchangeGrant {
		stsOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid value for \"grant_type\": %q. Only %s is supported.", gt, gcpTokenExchangeGrant)
		return
	}
	audience := param("audience")
	name, ok := strings.CutPrefix(audience, gcpIAMHost)
	if !ok || !gcpProviderName.MatchString(name) {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See %s for the list of possible formats.", gcpSTSDocsURL)
		return
	}
	if name != GCPWorkloadIdentityProvider {
		stsOAuthError(w, http.StatusBadRequest, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}
	if stt := param("subject_token_type"); stt != gcpJWTTokenType && stt != gcpIDTokenType {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid value for \"subject_token_type\". Supported values are %s and %s.", gcpJWTTokenType, gcpIDTokenType)
		return
	}
	if rtt := param("requested_token_type"); rtt != gcpAccessTokenType {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid value for \"requested_token_type\". The only supported value is %s.", gcpAccessTokenType)
		return
	}
	scopes := strings.Fields(param("scope"))
	if len(scopes) == 0 {
		scopes = []string{gcpCloudPlatformScope}
	}
	subject := param("subject_token")
	if subject == "" {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: \"subject_token\".")
		return
	}

	now := time.Now()
	tok, err := g.verifier.verify(subject, now, 0)
	var untrusted *issuerError
	switch {
	case err == nil:
	case errors.As(err, &untrusted):
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "The issuer in ID Token %s does not match the expected ones: %s.", untrusted.issuer, g.issuerURL)
		return
	case errors.Is(err, errTokenMalformed):
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "Unable to parse the ID Token.")
		return
	case errors.Is(err, errTokenSignature):
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT signature.")
		return
	case errors.Is(err, jwt.ErrExpired):
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "The ID Token has expired at %s.", expiryOf(subject))
		return
	default:
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "The ID Token is not valid: %v.", err)
		return
	}
	allowed := []string{"https://iam.googleapis.com/" + GCPWorkloadIdentityProvider, Audience}
	if !slices.ContainsFunc(tok.audience, func(a string) bool { return slices.Contains(allowed, a) }) {
		stsOAuthError(w, http.StatusBadRequest, "invalid_grant", "The audience in ID Token %q does not match the expected audience %s.", tok.audience, allowed[0])
		return
	}
	// Attribute mapping, then the provider's attribute condition
	// attribute.repository == Repository.
	repository, _ := tok.claims["repository"].(string)
	if _, isGitHub := tok.claims["repository"]; !isGitHub {
		repository, _ = tok.claims["project_path"].(string)
	}
	if repository != Repository {
		stsOAuthError(w, http.StatusBadRequest, "unauthorized_client", "The given credential is rejected by the attribute condition.")
		return
	}

	ttl := capTTL(gcpFederatedTTL, g.maxTTL)
	// Federated tokens start "ya29.d." like Google's.
	token := "ya29.d." + randomString(180, alnumChars+"-_")
	g.mu.Lock()
	g.issued++
	id := "federated-token-" + strconv.Itoa(g.issued)
	g.federated[fingerprint(token)] = gcpPrincipal{subject: tok.subject, repository: repository, scopes: scopes}
	g.mu.Unlock()
	g.ledger.recordRestricted(ProviderGCP, id, token, now, now.Add(ttl), map[string]any{"scopes": scopes})
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      token,
		"issued_token_type": gcpAccessTokenType,
		"token_type":        "Bearer",
		"expires_in":        int(ttl.Seconds()),
	})
}

// generateAccessToken is iamcredentials' POST
// /v1/projects/-/serviceAccounts/{email}:generateAccessToken with a
// federated token as bearer: {"scope":[...],"lifetime":"900s"} →
// {"accessToken","expireTime"}.
func (g *gcpServer) generateAccessToken(w http.ResponseWriter, r *http.Request) {
	email, ok := strings.CutSuffix(r.PathValue("call"), ":generateAccessToken")
	if !ok {
		googleAPIError(w, http.StatusNotFound, "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	bearer := bearerToken(r, "Bearer")
	g.mu.Lock()
	principal, known := g.federated[fingerprint(bearer)]
	g.mu.Unlock()
	if _, state := g.ledger.check(ProviderGCP, bearer, time.Now()); bearer == "" || !known || state != credentialValid {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		googleAPIError(w, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
		return
	}
	if !slices.Contains(principal.scopes, gcpCloudPlatformScope) {
		googleAPIError(w, http.StatusForbidden, "Request had insufficient authentication scopes.")
		return
	}
	var req struct {
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
		Delegates []string `json:"delegates"`
	}
	body, err := readBody(w, r)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		googleAPIError(w, http.StatusBadRequest, fmt.Sprintf("Invalid JSON payload received. %v", err))
		return
	}
	if len(req.Scope) == 0 {
		googleAPIError(w, http.StatusBadRequest, "Scope required.")
		return
	}
	lifetime := gcpMaxLifetime
	if req.Lifetime != "" {
		secs, ok := strings.CutSuffix(req.Lifetime, "s")
		f, err := strconv.ParseFloat(secs, 64)
		if !ok || err != nil || f <= 0 {
			googleAPIError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's': %q", req.Lifetime))
			return
		}
		lifetime = time.Duration(f * float64(time.Second))
		if lifetime > gcpMaxLifetime {
			googleAPIError(w, http.StatusBadRequest, fmt.Sprintf("Lifetime must be at most %ds unless the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension allows more.", int(gcpMaxLifetime.Seconds())))
			return
		}
	}
	project := r.PathValue("project")
	bound := email == GCPServiceAccount && principal.repository == Repository &&
		(project == "-" || project == GCPProjectID) && len(req.Delegates) == 0
	if !bound {
		googleAPIError(w, http.StatusForbidden, "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
			map[string]any{
				"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
				"metadata": map[string]string{"permission": "iam.serviceAccounts.getAccessToken"},
			})
		return
	}

	now := time.Now()
	expires := now.Add(capTTL(lifetime, g.maxTTL)).UTC().Truncate(time.Second)
	token := "ya29.c." + randomString(220, alnumChars+"-_")
	g.mu.Lock()
	g.issued++
	id := "access-token-" + strconv.Itoa(g.issued)
	g.saTokens[fingerprint(token)] = gcpAccessToken{email: email, scopes: req.Scope}
	g.mu.Unlock()
	g.ledger.recordRestricted(ProviderGCP, id, token, now, expires, map[string]any{"scopes": req.Scope})
	writeJSON(w, http.StatusOK, map[string]string{"accessToken": token, "expireTime": expires.Format(time.RFC3339)})
}

// tokenInfo is oauth2.googleapis.com's GET /tokeninfo?access_token=T: what
// a service account token is, so callers can prove a token works.
func (g *gcpServer) tokenInfo(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		stsOAuthError(w, http.StatusBadRequest, "invalid_request", "%v", err)
		return
	}
	token := r.Form.Get("access_token")
	if token == "" {
		token = bearerToken(r, "Bearer")
	}
	g.mu.Lock()
	info, known := g.saTokens[fingerprint(token)]
	g.mu.Unlock()
	c, state := g.ledger.check(ProviderGCP, token, time.Now())
	if token == "" || !known || state != credentialValid {
		stsOAuthError(w, http.StatusBadRequest, "invalid_token", "Invalid Value")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"azp":            GCPServiceAccount,
		"aud":            GCPServiceAccount,
		"email":          info.email,
		"email_verified": "true",
		"scope":          strings.Join(info.scopes, " "),
		"exp":            strconv.FormatInt(c.ExpiresAt.Unix(), 10),
		"expires_in":     strconv.Itoa(int(time.Until(c.ExpiresAt).Seconds())),
		"access_type":    "online",
	})
}
