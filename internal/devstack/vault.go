package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// VaultRole is the JWT auth role of the generated config. Its bound
	// claims follow the stack's platform: repository for GitHub,
	// project_path for GitLab. Roles "ci-github" and "ci-gitlab" bind one
	// platform each, whatever the stack's platform.
	VaultRole = "ci"

	vaultKVMount     = "secret"
	vaultReadPolicy  = "ci-read"
	vaultReadPrefix  = vaultKVMount + "/data/ci/"
	vaultJWTLeeway   = jwt.DefaultLeeway // Vault's default clock_skew_leeway
	vaultVersion     = "1.17.0+devstack"
	vaultTokenPrefix = "hvs."
)

// vaultRole is a JWT auth role: who may log in and what the token may do.
type vaultRole struct {
	boundAudiences []string
	boundClaims    map[string][]string // claim → accepted values (any of)
	userClaim      string
	policies       []string
}

// vaultToken is the server-side state of a client token; validity
// (expiry, revocation) lives in the ledger.
type vaultToken struct {
	accessor    string
	role        string
	displayName string
	policies    []string // including "default", sorted
	issuedAt    time.Time
	ttl         time.Duration
}

// vaultServer is a Vault stand-in with JWT auth at auth/jwt and a KV v2
// engine at secret/.
type vaultServer struct {
	addr     string
	verifier *tokenVerifier
	ledger   *ledger
	ttl      time.Duration
	roles    map[string]vaultRole
	kv       map[string]map[string]string // path under the mount → fields
	seededAt time.Time

	mu     sync.Mutex
	tokens map[string]*vaultToken // by fingerprint of the client token
}

func newVaultServer(addr, platform string, v *tokenVerifier, l *ledger, ttl time.Duration) *vaultServer {
	audiences := []string{addr, Audience}
	github := map[string][]string{"repository": {Repository}}
	gitlab := map[string][]string{"project_path": {Repository}}
	ci := github
	if platform == PlatformGitLab {
		ci = gitlab
	}
	role := func(bound map[string][]string) vaultRole {
		return vaultRole{boundAudiences: audiences, boundClaims: bound, userClaim: "sub", policies: []string{vaultReadPolicy}}
	}
	clientSecret := randomString(32, alnumChars)
	apiJSON, _ := json.Marshal(map[string]string{
		"client_id":     "devstack-" + randomString(12, lowerChars+digitChars),
		"client_secret": clientSecret,
	})
	return &vaultServer{
		addr:     addr,
		verifier: v,
		ledger:   l,
		ttl:      ttl,
		roles:    map[string]vaultRole{VaultRole: role(ci), "ci-github": role(github), "ci-gitlab": role(gitlab)},
		kv: map[string]map[string]string{
			"ci/db":  {"username": "ci-" + randomString(8, lowerChars+digitChars), "password": randomPassword(24)},
			"ci/api": {"token": randomString(40, alnumChars), "json": string(apiJSON)},
			// Outside the role's policy: a read must be refused even though
			// the path exists.
			"admin/root": {"password": randomPassword(32)},
		},
		seededAt: time.Now().UTC(),
		tokens:   map[string]*vaultToken{},
	}
}

// secrets returns every seeded value, plus the string leaves of JSON
// values (a masker must hide those too).
func (v *vaultServer) secrets() []string {
	var out []string
	for _, path := range slices.Sorted(maps.Keys(v.kv)) {
		fields := v.kv[path]
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			out = append(out, fields[name])
			var leaves map[string]any
			if json.Unmarshal([]byte(fields[name]), &leaves) == nil {
				for _, k := range slices.Sorted(maps.Keys(leaves)) {
					if s, ok := leaves[k].(string); ok {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

// vaultError writes Vault's error shape.
func vaultError(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": msgs})
}

func vaultPermissionDenied(w http.ResponseWriter) {
	vaultError(w, http.StatusForbidden, "permission denied")
}

// vaultEnvelope is the common shape of Vault's successful responses.
func vaultEnvelope(data, auth any) map[string]any {
	return map[string]any{
		"request_id":     randomUUID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           auth,
	}
}

func (v *vaultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		vaultError(w, http.StatusNotFound)
		return
	}
	read := r.Method == http.MethodGet
	update := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case path == "sys/health" && (read || r.Method == http.MethodHead):
		v.health(w)
	case path == "auth/jwt/login" && update:
		v.login(w, r)
	case path == "auth/token/lookup-self" && (read || update):
		v.lookupSelf(w, r)
	case path == "auth/token/revoke-self" && update:
		v.revokeSelf(w, r)
	case strings.HasPrefix(path, "sys/internal/ui/mounts/") && read:
		v.mountInfo(w, r, strings.TrimPrefix(path, "sys/internal/ui/mounts/"))
	case strings.HasPrefix(path, vaultKVMount+"/data/") && read:
		v.readKV(w, r, path)
	case strings.HasPrefix(path, vaultKVMount+"/"):
		// Writes, deletes and metadata: the role's policy grants none.
		vaultPermissionDenied(w)
	case path == "auth/jwt/login" || path == "auth/token/revoke-self":
		vaultError(w, http.StatusMethodNotAllowed, "unsupported operation")
	default:
		vaultError(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
	}
}

func (v *vaultServer) health(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"initialized":                  true,
		"sealed":                       false,
		"standby":                      false,
		"performance_standby":          false,
		"replication_performance_mode": "disabled",
		"replication_dr_mode":          "disabled",
		"server_time_utc":              time.Now().Unix(),
		"version":                      vaultVersion,
		"cluster_name":                 "devstack",
	})
}

// login is POST /v1/auth/jwt/login {"role","jwt"}, checked in the order of
// Vault's JWT auth plugin, with its messages.
func (v *vaultServer) login(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		vaultError(w, http.StatusBadRequest, err.Error())
		return
	}
	var req struct {
		Role string `json:"role"`
		JWT  string `json:"jwt"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			vaultError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
	}
	roleName := strings.ToLower(req.Role)
	if roleName == "" {
		vaultError(w, http.StatusBadRequest, "missing role")
		return
	}
	role, ok := v.roles[roleName]
	if !ok {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("role %q could not be found", roleName))
		return
	}
	if req.JWT == "" {
		vaultError(w, http.StatusBadRequest, "missing token")
		return
	}
	now := time.Now()
	tok, err := v.verifier.verify(req.JWT, now, vaultJWTLeeway)
	switch {
	case err == nil:
	case errors.Is(err, errTokenIssuer):
		// A JWKS-configured Vault checks the signature first; a token from
		// another issuer is not signed by a key it knows.
		vaultError(w, http.StatusBadRequest, "error verifying token: "+errTokenSignature.Error())
		return
	case errors.Is(err, errTokenMalformed), errors.Is(err, errTokenSignature):
		vaultError(w, http.StatusBadRequest, "error verifying token: "+err.Error())
		return
	default: // time validation: go-jose's own messages, as Vault prints them
		vaultError(w, http.StatusBadRequest, "error validating claims: "+err.Error())
		return
	}
	if !anyCommon(tok.audience, role.boundAudiences) {
		vaultError(w, http.StatusBadRequest, "error validating claims: aud claim does not match any bound audience")
		return
	}
	if err := checkBoundClaims(role.boundClaims, tok.claims); err != nil {
		vaultError(w, http.StatusBadRequest, "error validating claims: "+err.Error())
		return
	}
	user, ok := tok.claims[role.userClaim].(string)
	if !ok {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("claim %q not found in token", role.userClaim))
		return
	}

	clientToken := vaultTokenPrefix + randomString(24, alnumChars)
	policies := slices.Sorted(slices.Values(append([]string{"default"}, role.policies...)))
	state := &vaultToken{
		accessor:    randomString(24, alnumChars),
		role:        roleName,
		displayName: "jwt-" + user,
		policies:    policies,
		issuedAt:    now.UTC(),
		ttl:         v.ttl,
	}
	v.mu.Lock()
	v.tokens[fingerprint(clientToken)] = state
	v.mu.Unlock()
	v.ledger.record(ProviderVault, state.accessor, clientToken, now, now.Add(v.ttl))

	writeJSON(w, http.StatusOK, vaultEnvelope(nil, map[string]any{
		"client_token":    clientToken,
		"accessor":        state.accessor,
		"policies":        policies,
		"token_policies":  policies,
		"metadata":        map[string]string{"role": roleName},
		"lease_duration":  int(v.ttl.Seconds()),
		"renewable":       true,
		"entity_id":       "",
		"token_type":      "service",
		"orphan":          true,
		"mfa_requirement": nil,
		"num_uses":        0,
	}))
}

// checkBoundClaims enforces a role's bound_claims like Vault (string
// type): every bound claim must be present and equal one of its values.
func checkBoundClaims(bound map[string][]string, claims map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(bound)) {
		raw, ok := claims[name]
		if !ok || raw == nil {
			return fmt.Errorf("claim %q is missing", name)
		}
		var actual []string
		switch val := raw.(type) {
		case string:
			actual = []string{val}
		case []any:
			for _, item := range val {
				s, ok := item.(string)
				if !ok {
					return fmt.Errorf("received claim is not a string or list: %v", raw)
				}
				actual = append(actual, s)
			}
		default:
			return fmt.Errorf("received claim is not a string or list: %v", raw)
		}
		if !anyCommon(actual, bound[name]) {
			return fmt.Errorf("claim %q does not match any associated bound claim values", name)
		}
	}
	return nil
}

// anyCommon reports whether a and b share an element.
func anyCommon(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// authenticate resolves the request's client token (X-Vault-Token, or
// Authorization: Bearer as Vault also accepts).
func (v *vaultServer) authenticate(r *http.Request) (string, *vaultToken, bool) {
	token := r.Header.Get("X-Vault-Token")
	if token == "" {
		token = bearerToken(r, "Bearer")
	}
	if token == "" {
		return "", nil, false
	}
	if _, state := v.ledger.check(ProviderVault, token, time.Now()); state != credentialValid {
		return "", nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tokens[fingerprint(token)]
	return token, t, ok
}

// readKV is GET /v1/secret/data/<path>: the role's policy is checked before
// existence, as Vault's ACL does.
func (v *vaultServer) readKV(w http.ResponseWriter, r *http.Request, path string) {
	_, t, ok := v.authenticate(r)
	if !ok || !slices.Contains(t.policies, vaultReadPolicy) || !strings.HasPrefix(path, vaultReadPrefix) {
		vaultPermissionDenied(w)
		return
	}
	fields, ok := v.kv[strings.TrimPrefix(path, vaultKVMount+"/data/")]
	if version := r.URL.Query().Get("version"); version != "" && version != "0" && version != "1" {
		ok = false
	}
	if !ok {
		vaultError(w, http.StatusNotFound) // Vault answers a missing secret with no message
		return
	}
	writeJSON(w, http.StatusOK, vaultEnvelope(map[string]any{
		"data": fields,
		"metadata": map[string]any{
			"created_time":    v.seededAt.Format(time.RFC3339Nano),
			"custom_metadata": nil,
			"deletion_time":   "",
			"destroyed":       false,
			"version":         1,
		},
	}, nil))
}

// mountInfo answers the Vault CLI's KV version probe.
func (v *vaultServer) mountInfo(w http.ResponseWriter, r *http.Request, path string) {
	if _, _, ok := v.authenticate(r); !ok {
		vaultPermissionDenied(w)
		return
	}
	if path != vaultKVMount && !strings.HasPrefix(path, vaultKVMount+"/") {
		vaultPermissionDenied(w)
		return
	}
	writeJSON(w, http.StatusOK, vaultEnvelope(map[string]any{
		"path":        vaultKVMount + "/",
		"type":        "kv",
		"description": "key/value secret storage",
		"options":     map[string]string{"version": "2"},
	}, nil))
}

func (v *vaultServer) lookupSelf(w http.ResponseWriter, r *http.Request) {
	token, t, ok := v.authenticate(r)
	if !ok {
		vaultPermissionDenied(w)
		return
	}
	now := time.Now()
	expires := t.issuedAt.Add(t.ttl)
	writeJSON(w, http.StatusOK, vaultEnvelope(map[string]any{
		"accessor":         t.accessor,
		"creation_time":    t.issuedAt.Unix(),
		"creation_ttl":     int(t.ttl.Seconds()),
		"display_name":     t.displayName,
		"entity_id":        "",
		"expire_time":      expires.Format(time.RFC3339Nano),
		"explicit_max_ttl": 0,
		"id":               token,
		"issue_time":       t.issuedAt.Format(time.RFC3339Nano),
		"meta":             map[string]string{"role": t.role},
		"num_uses":         0,
		"orphan":           true,
		"path":             "auth/jwt/login",
		"policies":         t.policies,
		"renewable":        true,
		"ttl":              int(expires.Sub(now).Seconds()),
		"type":             "service",
	}, nil))
}

// revokeSelf is POST /v1/auth/token/revoke-self → 204; the token stops
// working at once and the ledger records when.
func (v *vaultServer) revokeSelf(w http.ResponseWriter, r *http.Request) {
	token, _, ok := v.authenticate(r)
	if !ok || !v.ledger.revoke(ProviderVault, token, time.Now()) {
		vaultPermissionDenied(w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
