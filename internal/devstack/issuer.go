package devstack

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	discoveryPath     = "/.well-known/openid-configuration"
	jwksPath          = "/.well-known/jwks"
	actionsTokenPath  = "/_apis/oidc/token"
	actionsAPIVersion = "2.0"
)

// issuer is the OIDC identity provider of the devstack: it signs job tokens
// with one RSA key and publishes the key through discovery and JWKS, like
// token.actions.githubusercontent.com or a GitLab instance.
type issuer struct {
	url          string
	ttl          time.Duration
	job          *job
	platform     string // default platform of minted tokens
	requestToken string // ACTIONS_ID_TOKEN_REQUEST_TOKEN
	signer       jose.Signer
	keys         jose.JSONWebKeySet // public keys only
}

func newIssuer(url, platform string, ttl time.Duration, j *job) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating issuer key: %w", err)
	}
	public := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("issuer key thumbprint: %w", err)
	}
	// The RFC 7638 thumbprint is a stable, collision-free key id.
	public.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: public.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("issuer signer: %w", err)
	}
	return &issuer{
		url:          url,
		ttl:          ttl,
		job:          j,
		platform:     platform,
		requestToken: randomString(40, alnumChars),
		signer:       signer,
		keys:         jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}},
	}, nil
}

// verifier returns the token verifier the stand-ins use: they trust this
// issuer's published keys, as a real service configured with its JWKS would.
func (i *issuer) verifier() *tokenVerifier {
	return &tokenVerifier{issuer: i.url, keys: i.keys}
}

// defaultAudience is the aud of a token minted without an audience: what
// GitHub uses for the Actions token endpoint, and Audience for GitLab
// (whose id_tokens always name one).
func (i *issuer) defaultAudience(platform string) string {
	if platform == PlatformGitLab {
		return Audience
	}
	return githubServerURL + "/" + RepositoryOwner
}

// mintRequest describes one token. extra overrides or adds claims; it
// exists so tests can present tokens that a real issuer would sign for
// another repository.
type mintRequest struct {
	platform string
	audience string
	issuedAt time.Time
	extra    map[string]any
}

// mint signs a job token with the full claim set of the platform.
func (i *issuer) mint(req mintRequest) (string, error) {
	platform := req.platform
	if platform == "" {
		platform = i.platform
	}
	aud := req.audience
	if aud == "" {
		aud = i.defaultAudience(platform)
	}
	now := req.issuedAt
	if now.IsZero() {
		now = time.Now()
	}
	var claims map[string]any
	var notBefore time.Time
	switch platform {
	case PlatformGitHub:
		claims = i.job.githubClaims()
		// GitHub back-dates nbf by five minutes (federation.md §2.1).
		notBefore = now.Add(-5 * time.Minute)
	case PlatformGitLab:
		claims = i.job.gitlabClaims()
		notBefore = now.Add(-5 * time.Second)
	default:
		return "", fmt.Errorf("unknown platform %q (want %q or %q)", platform, PlatformGitHub, PlatformGitLab)
	}
	claims["iss"] = i.url
	claims["aud"] = aud
	claims["iat"] = now.Unix()
	claims["nbf"] = notBefore.Unix()
	claims["exp"] = now.Add(i.ttl).Unix()
	claims["jti"] = randomUUID()
	maps.Copy(claims, req.extra)
	return jwt.Signed(i.signer).Claims(claims).Serialize()
}

// discovery serves the OpenID Provider metadata.
func (i *issuer) discovery(w http.ResponseWriter, r *http.Request) {
	claimSet := map[string]bool{"iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true}
	for k := range i.job.githubClaims() {
		claimSet[k] = true
	}
	for k := range i.job.gitlabClaims() {
		claimSet[k] = true
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.url + jwksPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      slices.Sorted(maps.Keys(claimSet)),
	})
}

// jwks serves the public signing keys.
func (i *issuer) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, i.keys)
}

// actionsToken is the GitHub Actions ID-token endpoint:
// GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token as
// bearer → {"count":N,"value":JWT}.
func (i *issuer) actionsToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	got := bearerToken(r, "Bearer")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(i.requestToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"message": "TF400813: The user is not authorized to access this resource: invalid or missing ACTIONS_ID_TOKEN_REQUEST_TOKEN",
		})
		return
	}
	token, err := i.mint(mintRequest{platform: PlatformGitHub, audience: r.URL.Query().Get("audience")})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(token), "value": token})
}

// requestURL is ACTIONS_ID_TOKEN_REQUEST_URL. It already carries a query,
// so clients append "&audience=…" as the Actions toolkit does.
func (i *issuer) requestURL() string {
	return i.url + actionsTokenPath + "?api-version=" + actionsAPIVersion
}
