package devstack

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// actionsToken fetches a token the way the Actions toolkit does.
func actionsToken(t *testing.T, env map[string]string, audience string) string {
	t.Helper()
	u := env["ACTIONS_ID_TOKEN_REQUEST_URL"]
	if audience != "" {
		u += "&audience=" + url.QueryEscape(audience)
	}
	status, body := call(t, http.MethodGet, u, http.Header{"Authorization": {"Bearer " + env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]}}, "")
	if status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	resp := decode[struct {
		Value string `json:"value"`
		Count int    `json:"count"`
	}](t, body)
	if resp.Value == "" {
		t.Fatalf("token endpoint returned no value: %s", body)
	}
	return resp.Value
}

// claimsOf decodes a JWT payload without verifying it.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return decode[map[string]any](t, payload)
}

func TestDiscoveryAndJWKSVerifyIssuedToken(t *testing.T) {
	s := startStack(t, Options{TokenTTL: 7 * time.Minute})
	status, body := call(t, http.MethodGet, s.IssuerURL+"/.well-known/openid-configuration", nil, "")
	if status != http.StatusOK {
		t.Fatalf("discovery: %d %s", status, body)
	}
	disco := decode[struct {
		Issuer     string   `json:"issuer"`
		JWKSURI    string   `json:"jwks_uri"`
		Responses  []string `json:"response_types_supported"`
		Subjects   []string `json:"subject_types_supported"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		ClaimNames []string `json:"claims_supported"`
	}](t, body)
	if disco.Issuer != s.IssuerURL || disco.JWKSURI == "" || len(disco.Responses) == 0 || len(disco.Subjects) == 0 ||
		len(disco.Algs) != 1 || disco.Algs[0] != "RS256" || len(disco.ClaimNames) < 40 {
		t.Fatalf("discovery document: %s", body)
	}

	status, body = call(t, http.MethodGet, disco.JWKSURI, nil, "")
	if status != http.StatusOK {
		t.Fatalf("jwks: %d %s", status, body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].KeyID == "" || set.Keys[0].Use != "sig" || set.Keys[0].Algorithm != "RS256" || !set.Keys[0].IsPublic() {
		t.Fatalf("jwks: %s", body)
	}
	if strings.Contains(string(body), `"d"`) {
		t.Fatal("jwks publishes private key material")
	}

	env := envMap(t, s.Env())
	for _, aud := range []string{"sts.amazonaws.com", ""} {
		raw := actionsToken(t, env, aud)
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Headers[0].KeyID != set.Keys[0].KeyID {
			t.Errorf("token kid %q not in JWKS", tok.Headers[0].KeyID)
		}
		var std jwt.Claims
		claims := map[string]any{}
		if err := tok.Claims(set.Keys[0].Key, &std, &claims); err != nil {
			t.Fatalf("token does not verify with the published key: %v", err)
		}
		wantAud := aud
		if aud == "" {
			wantAud = "https://github.com/" + RepositoryOwner
		}
		if err := std.ValidateWithLeeway(jwt.Expected{Issuer: disco.Issuer, AnyAudience: []string{wantAud}}, 0); err != nil {
			t.Errorf("aud %q: %v", aud, err)
		}
		if got := std.Expiry.Time().Sub(std.IssuedAt.Time()); got != 7*time.Minute {
			t.Errorf("exp - iat = %v, want TokenTTL", got)
		}
		if got := std.IssuedAt.Time().Sub(std.NotBefore.Time()); got != 5*time.Minute {
			t.Errorf("iat - nbf = %v, want 5m as GitHub", got)
		}
		assertGitHubClaims(t, claims)
	}
}

// assertGitHubClaims checks the full GitHub claim set and its shapes.
func assertGitHubClaims(t *testing.T, claims map[string]any) {
	t.Helper()
	names := []string{"actor", "actor_id", "aud", "base_ref", "check_run_id", "event_name", "exp", "head_ref",
		"iat", "iss", "job_workflow_ref", "job_workflow_sha", "jti", "nbf", "ref", "ref_protected", "ref_type",
		"repository", "repository_id", "repository_owner", "repository_owner_id", "repository_visibility",
		"run_attempt", "run_id", "run_number", "runner_environment", "sha", "sub", "workflow", "workflow_ref", "workflow_sha"}
	for _, n := range names {
		if _, ok := claims[n]; !ok {
			t.Errorf("claim %s missing", n)
		}
	}
	numeric := regexp.MustCompile(`^[1-9][0-9]*$`)
	for _, n := range []string{"actor_id", "check_run_id", "repository_id", "repository_owner_id", "run_attempt", "run_id", "run_number"} {
		if s, ok := claims[n].(string); !ok || !numeric.MatchString(s) {
			t.Errorf("claim %s = %#v, want a numeric string", n, claims[n])
		}
	}
	if claims["repository"] != Repository || claims["sub"] != "repo:"+Repository+":ref:refs/heads/main" {
		t.Errorf("repository/sub = %v / %v", claims["repository"], claims["sub"])
	}
	if !strings.HasPrefix(claims["job_workflow_ref"].(string), Repository+"/.github/workflows/") {
		t.Errorf("job_workflow_ref = %v", claims["job_workflow_ref"])
	}
}

func TestTokenEndpointRefusesWrongRequestToken(t *testing.T) {
	s := startStack(t, Options{})
	env := envMap(t, s.Env())
	u := env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=x"
	for name, header := range map[string]http.Header{
		"missing":      nil,
		"wrong":        {"Authorization": {"Bearer " + strings.ToUpper(env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])}},
		"wrong scheme": {"Authorization": {"Basic " + env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]}},
	} {
		status, body := call(t, http.MethodGet, u, header, "")
		if status != http.StatusUnauthorized {
			t.Errorf("%s request token: status %d, want 401", name, status)
		}
		if resp := decode[map[string]any](t, body); resp["message"] == nil || resp["value"] != nil {
			t.Errorf("%s request token: body %s", name, body)
		}
	}
}

func TestDevstackTokenEndpoint(t *testing.T) {
	s := startStack(t, Options{})
	status, body := call(t, http.MethodPost, s.URL+"/devstack/token?platform=gitlab&aud=vault.example", nil, "")
	if status != http.StatusOK {
		t.Fatalf("mint gitlab: %d %s", status, body)
	}
	claims := claimsOf(t, decode[map[string]string](t, body)["value"])
	for _, n := range []string{"namespace_id", "namespace_path", "project_id", "project_path", "user_id", "user_login",
		"user_email", "pipeline_id", "pipeline_source", "job_id", "ref", "ref_type", "ref_path", "ref_protected",
		"runner_id", "runner_environment", "sha", "project_visibility", "ci_config_ref_uri", "ci_config_sha",
		"iss", "aud", "exp", "iat", "nbf", "jti", "sub"} {
		if _, ok := claims[n]; !ok {
			t.Errorf("gitlab claim %s missing", n)
		}
	}
	if claims["aud"] != "vault.example" || claims["project_path"] != Repository || claims["ref"] != "main" ||
		claims["sub"] != "project_path:"+Repository+":ref_type:branch:ref:main" {
		t.Errorf("gitlab claims: %v", claims)
	}
	if _, ok := claims["repository"]; ok {
		t.Error("gitlab token carries GitHub's repository claim")
	}

	// Default platform is the stack's; form bodies work too.
	status, body = call(t, http.MethodPost, s.URL+"/devstack/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "aud=a1")
	if status != http.StatusOK {
		t.Fatalf("mint default: %d %s", status, body)
	}
	claims = claimsOf(t, decode[map[string]string](t, body)["value"])
	if claims["aud"] != "a1" {
		t.Errorf("aud = %v", claims["aud"])
	}
	assertGitHubClaims(t, claims)

	status, _ = call(t, http.MethodPost, s.URL+"/devstack/token?platform=jenkins", nil, "")
	if status != http.StatusBadRequest {
		t.Errorf("unknown platform: status %d, want 400", status)
	}
	status, _ = call(t, http.MethodGet, s.URL+"/devstack/token?platform=github", nil, "")
	if status != http.StatusMethodNotAllowed {
		t.Errorf("GET /devstack/token: status %d, want 405", status)
	}
}
