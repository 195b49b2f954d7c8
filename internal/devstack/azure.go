package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// AzureTenantID is the devstack's Entra tenant.
	AzureTenantID = "7a4e1f2c-3b5d-4c6e-8f90-a1b2c3d4e5f6"
	// AzureClientID is the application (client) id whose federated
	// identity credentials trust the devstack issuer: one for the GitHub
	// subject and one for the GitLab subject of Repository's main branch,
	// each accepting the audience api://AzureADTokenExchange or Audience.
	AzureClientID = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
	// AzureSubscriptionID is the one subscription GET /subscriptions lists.
	AzureSubscriptionID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"

	azureDefaultAudience = "api://AzureADTokenExchange"
	azureAssertionType   = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	azureManagement      = "https://management.azure.com"
	azureTokenTTL        = 3599 * time.Second
	azureObjectID        = "3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7"
)

// azureResource reports whether a client-credentials scope may name
// resource ("<resource>/.default").
func azureResource(resource string) bool {
	switch strings.TrimSuffix(resource, "/") {
	case azureManagement, "https://graph.microsoft.com", "https://vault.azure.net", "https://storage.azure.com":
		return true
	}
	return false
}

// azureFederatedCredential is a federated identity credential of the app:
// all three fields must match the assertion exactly (case-sensitively).
type azureFederatedCredential struct {
	issuer    string
	subject   string
	audiences []string
}

// azureServer stands in for the Entra ID token endpoint
// (login.microsoftonline.com/{tenant}/oauth2/v2.0/token) with the
// client-credentials grant and a federated client assertion, plus a minimal
// Azure Resource Manager GET /subscriptions that accepts only live tokens.
type azureServer struct {
	verifier    *tokenVerifier
	ledger      *ledger
	maxTTL      time.Duration
	credentials []azureFederatedCredential
	signer      jose.Signer
}

func newAzureServer(issuerURL string, v *tokenVerifier, l *ledger, maxTTL time.Duration, j *job) (*azureServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating azure signing key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: randomHex(8)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("azure signer: %w", err)
	}
	audiences := []string{azureDefaultAudience, Audience}
	return &azureServer{
		verifier: v, ledger: l, maxTTL: maxTTL, signer: signer,
		credentials: []azureFederatedCredential{
			{issuer: issuerURL, subject: j.githubSubject(), audiences: audiences},
			{issuer: issuerURL, subject: j.gitlabSubject(), audiences: audiences},
		},
	}, nil
}

func (a *azureServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.token)
	mux.HandleFunc("GET /subscriptions", a.subscriptions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		aadError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
	})
	return mux
}

// aadError writes Entra's error body: the RFC 6749 fields plus
// error_codes, timestamp, trace and correlation ids, with the AADSTS code
// leading the description.
func aadError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace, correlation := randomUUID(), randomUUID()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_client"`)
	}
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, msg, trace, correlation, now),
		"error_codes":    []int{aadsts},
		"timestamp":      now,
		"trace_id":       trace,
		"correlation_id": correlation,
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

func azureFault(w http.ResponseWriter, status int, msg string) {
	code, aadsts := oauthErrorCode(status), 90000
	if status >= 500 {
		aadsts = 90033 // "A transient error has occurred."
	}
	aadError(w, status, code, aadsts, msg)
}

// token is the client-credentials grant with a federated client assertion,
// checked in Entra's order with its AADSTS codes.
func (a *azureServer) token(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != AzureTenantID {
		aadError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		} else {
			aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		}
		return
	}
	clientID := f.Get("client_id")
	if clientID == "" {
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if clientID != AzureClientID {
		aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
		return
	}
	scope := f.Get("scope")
	resource, ok := strings.CutSuffix(scope, "/.default")
	if !ok || strings.Contains(scope, " ") {
		aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	if !azureResource(resource) {
		aadError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", resource, tenant))
		return
	}
	assertion := f.Get("client_assertion")
	if assertion == "" {
		aadError(w, http.StatusBadRequest, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if at := f.Get("client_assertion_type"); at != azureAssertionType {
		aadError(w, http.StatusBadRequest, "invalid_request", 50027, fmt.Sprintf("Invalid client_assertion_type '%s'; expected %s.", at, azureAssertionType))
		return
	}

	now := time.Now()
	tok, err := a.verifier.verify(assertion, now, 0)
	var untrusted *issuerError
	switch {
	case err == nil:
	case errors.As(err, &untrusted):
		aadError(w, http.StatusUnauthorized, "invalid_client", 700211, fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", untrusted.issuer))
		return
	case errors.Is(err, errTokenMalformed):
		aadError(w, http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed.")
		return
	case errors.Is(err, errTokenSignature):
		aadError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation.")
		return
	case errors.Is(err, jwt.ErrExpired), errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		aadError(w, http.StatusUnauthorized, "invalid_client", 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, expiry time of assertion %s.", now.UTC().Format(time.RFC3339), expiryOf(assertion)))
		return
	default:
		aadError(w, http.StatusUnauthorized, "invalid_client", 50027, "JWT token is invalid: "+err.Error())
		return
	}
	var bySubject []azureFederatedCredential
	for _, c := range a.credentials {
		if c.issuer == tok.issuer && c.subject == tok.subject {
			bySubject = append(bySubject, c)
		}
	}
	if len(bySubject) == 0 {
		aadError(w, http.StatusUnauthorized, "invalid_client", 700213, fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", tok.subject))
		return
	}
	matched := slices.ContainsFunc(bySubject, func(c azureFederatedCredential) bool {
		return slices.ContainsFunc(tok.audience, func(aud string) bool { return slices.Contains(c.audiences, aud) })
	})
	if !matched {
		aadError(w, http.StatusUnauthorized, "invalid_client", 700212, fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", strings.Join(tok.audience, ",")))
		return
	}

	ttl := capTTL(azureTokenTTL, a.maxTTL)
	uti := randomString(22, alnumChars+"-_")
	access, err := jwt.Signed(a.signer).Claims(map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + AzureTenantID + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"appid": AzureClientID, "appidacr": "2", "idp": "https://sts.windows.net/" + AzureTenantID + "/",
		"idtyp": "app", "oid": azureObjectID, "sub": azureObjectID, "tid": AzureTenantID,
		"uti": uti, "ver": "1.0",
	}).Serialize()
	if err != nil {
		aadError(w, http.StatusInternalServerError, "server_error", 90033, "signing the access token failed")
		return
	}
	a.ledger.record(ProviderAzure, uti, access, now, now.Add(ttl))
	secs := int(ttl.Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": access,
	})
}

// subscriptions is ARM's GET /subscriptions: the one subscription, for a
// live token issued for the management resource.
func (a *azureServer) subscriptions(w http.ResponseWriter, r *http.Request) {
	token := bearerToken(r, "Bearer")
	armError := func(code, msg string) {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.windows.net/`+AzureTenantID+`", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	if token == "" {
		armError("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return
	}
	switch _, state := a.ledger.check(ProviderAzure, token, time.Now()); state {
	case credentialValid:
	case credentialExpired:
		armError("ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
		return
	default:
		armError("InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	var claims jwt.Claims
	if err != nil || parsed.UnsafeClaimsWithoutVerification(&claims) != nil ||
		!slices.ContainsFunc(claims.Audience, func(s string) bool { return strings.TrimSuffix(s, "/") == azureManagement }) {
		armError("InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences '"+azureManagement+"/'.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"value": []map[string]any{{
			"id": "/subscriptions/" + AzureSubscriptionID, "subscriptionId": AzureSubscriptionID,
			"tenantId": AzureTenantID, "displayName": "chaperone-devstack", "state": "Enabled",
		}},
		"count": map[string]any{"type": "Total", "value": 1},
	})
}
