package devstack

import (
	"crypto/hmac"
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

	vaultKVMount    = "secret"
	vaultReadPolicy = "ci-read"
	// VaultReadDBPolicy is a policy of the devstack's roles that reads
	// secret/data/ci/db only: a scope narrows its token to it with
	// policies: [read-db].
	VaultReadDBPolicy = "read-db"
	vaultJWTLeeway    = jwt.DefaultLeeway // Vault's default clock_skew_leeway
	vaultVersion      = "1.17.0+devstack"
	vaultTokenPrefix  = "hvs."
)

// vaultRole is a JWT auth role: who may log in and what the token may do.
type vaultRole struct {
	boundAudiences []string
	boundSubject   string
	boundClaims    map[string][]string // claim → accepted values (any of)
	globClaims     bool                // bound_claims_type glob: '*' matches anything
	userClaim      string
	policies       []string
	ttl            time.Duration // token_ttl; 0: the server's default
}

// vaultToken is the server-side state of a client token; validity
// (expiry, revocation) lives in the ledger.
type vaultToken struct {
	accessor    string
	role        string
	displayName string
	policies    []string // including "default" unless left out, sorted
	issuedAt    time.Time
	ttl         time.Duration
	path        string   // the auth path that created it
	children    []string // fingerprints of the tokens it created
}

// vaultServer is a Vault stand-in with JWT auth at auth/jwt and a KV v2
// engine at secret/.
//
// A root token (rootToken, random per start) configures it through
// Vault's own API, as `vault write` and `vault policy write` do: JWT roles
// (auth/jwt/role/NAME), the mount's issuer (auth/jwt/config) and ACL
// policies (sys/policies/acl/NAME). Client tokens create child tokens
// with a subset of their policies (auth/token/create), which revoke-self
// of the parent revokes too.
type vaultServer struct {
	addr      string
	issuer    string
	verifier  *tokenVerifier
	ledger    *ledger
	ttl       time.Duration
	rootToken string
	kv        map[string]map[string]string // path under the mount → fields
	seededAt  time.Time

	mu          sync.Mutex
	roles       map[string]vaultRole
	policies    map[string]vaultPolicy
	boundIssuer string                 // auth/jwt/config's bound_issuer ("" until set)
	tokens      map[string]*vaultToken // by fingerprint of the client token
}

func newVaultServer(addr, issuerURL, platform string, v *tokenVerifier, l *ledger, ttl time.Duration) *vaultServer {
	audiences := []string{addr, Audience}
	github := map[string][]string{"repository": {Repository}}
	gitlab := map[string][]string{"project_path": {Repository}}
	ci := github
	if platform == PlatformGitLab {
		ci = gitlab
	}
	role := func(bound map[string][]string) vaultRole {
		return vaultRole{boundAudiences: audiences, boundClaims: bound, userClaim: "sub", policies: []string{vaultReadPolicy, VaultReadDBPolicy}}
	}
	clientSecret := randomString(32, alnumChars)
	apiJSON, _ := json.Marshal(map[string]string{
		"client_id":     "devstack-" + randomString(12, lowerChars+digitChars),
		"client_secret": clientSecret,
	})
	return &vaultServer{
		addr:      addr,
		issuer:    issuerURL,
		verifier:  v,
		ledger:    l,
		ttl:       ttl,
		rootToken: vaultTokenPrefix + randomString(24, alnumChars),
		roles:     map[string]vaultRole{VaultRole: role(ci), "ci-github": role(github), "ci-gitlab": role(gitlab)},
		policies: map[string]vaultPolicy{
			"default": vaultDefaultPolicy,
			vaultReadPolicy: {
				{path: vaultKVMount + "/data/ci/", prefix: true, capabilities: []string{"read"}},
				// Lets a job narrow its token to a subset of its policies.
				{path: "auth/token/create", capabilities: []string{"update"}},
			},
			VaultReadDBPolicy: {{path: vaultKVMount + "/data/ci/db", capabilities: []string{"read"}}},
		},
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
	case strings.HasPrefix(path, "auth/jwt/role/") && update:
		v.writeRole(w, r, strings.TrimPrefix(path, "auth/jwt/role/"))
	case path == "auth/jwt/config" && update:
		v.writeConfig(w, r)
	case strings.HasPrefix(path, "sys/policies/acl/") && update:
		v.writePolicy(w, r, strings.TrimPrefix(path, "sys/policies/acl/"))
	case path == "auth/token/create" && update:
		v.createToken(w, r)
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
	v.mu.Lock()
	role, ok := v.roles[roleName]
	boundIssuer := v.boundIssuer
	v.mu.Unlock()
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
	if boundIssuer != "" && tok.issuer != boundIssuer {
		vaultError(w, http.StatusBadRequest, "error validating claims: validation failed, invalid issuer claim (iss)")
		return
	}
	switch {
	case len(role.boundAudiences) == 0 && len(tok.audience) > 0:
		vaultError(w, http.StatusBadRequest, "error validating claims: audience claim found in JWT but no audiences bound to the role")
		return
	case len(role.boundAudiences) > 0 && !anyCommon(tok.audience, role.boundAudiences):
		vaultError(w, http.StatusBadRequest, "error validating claims: aud claim does not match any bound audience")
		return
	}
	if role.boundSubject != "" && tok.subject != role.boundSubject {
		vaultError(w, http.StatusBadRequest, "error validating claims: sub claim does not match bound subject")
		return
	}
	if err := checkBoundClaims(role.boundClaims, role.globClaims, tok.claims); err != nil {
		vaultError(w, http.StatusBadRequest, "error validating claims: "+err.Error())
		return
	}
	user, ok := tok.claims[role.userClaim].(string)
	if !ok {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("claim %q not found in token", role.userClaim))
		return
	}

	ttl := v.ttl
	if role.ttl > 0 {
		ttl = role.ttl
	}
	policies := slices.Compact(slices.Sorted(slices.Values(append([]string{"default"}, role.policies...))))
	state := &vaultToken{
		accessor:    randomString(24, alnumChars),
		role:        roleName,
		displayName: "jwt-" + user,
		policies:    policies,
		issuedAt:    now.UTC(),
		ttl:         ttl,
		path:        "auth/jwt/login",
	}
	clientToken := v.issue(state)
	writeJSON(w, http.StatusOK, vaultEnvelope(nil, v.authBlock(clientToken, state, true)))
}

// issue mints a client token for state and records it.
func (v *vaultServer) issue(state *vaultToken) string {
	clientToken := vaultTokenPrefix + randomString(24, alnumChars)
	v.mu.Lock()
	v.tokens[fingerprint(clientToken)] = state
	v.mu.Unlock()
	v.ledger.record(ProviderVault, state.accessor, clientToken, state.issuedAt, state.issuedAt.Add(state.ttl))
	return clientToken
}

// authBlock is the "auth" object of a response that issued a token.
func (v *vaultServer) authBlock(clientToken string, t *vaultToken, orphan bool) map[string]any {
	var meta map[string]string
	if t.role != "" {
		meta = map[string]string{"role": t.role}
	}
	return map[string]any{
		"client_token":    clientToken,
		"accessor":        t.accessor,
		"policies":        t.policies,
		"token_policies":  t.policies,
		"metadata":        meta,
		"lease_duration":  int(t.ttl.Seconds()),
		"renewable":       true,
		"entity_id":       "",
		"token_type":      "service",
		"orphan":          orphan,
		"mfa_requirement": nil,
		"num_uses":        0,
	}
}

// checkBoundClaims enforces a role's bound_claims like Vault: every bound
// claim must be present and equal one of its values (glob: match one of
// them, '*' matching any run of characters).
func checkBoundClaims(bound map[string][]string, glob bool, claims map[string]any) error {
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
		match := anyCommon(actual, bound[name])
		if glob {
			match = slices.ContainsFunc(actual, func(a string) bool {
				return slices.ContainsFunc(bound[name], func(pattern string) bool { return globMatch(pattern, a) })
			})
		}
		if !match {
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
	if hmac.Equal([]byte(token), []byte(v.rootToken)) {
		return token, &vaultToken{accessor: "root", displayName: "root", policies: []string{"root"}, path: "auth/token/root"}, true
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
	if !ok || !v.allows(t, path, "read") {
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
	if !ok || !v.allows(t, "auth/token/lookup-self", "read") {
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
		"orphan":           t.path == "auth/jwt/login",
		"path":             t.path,
		"policies":         t.policies,
		"renewable":        true,
		"ttl":              int(expires.Sub(now).Seconds()),
		"type":             "service",
	}, nil))
}

// revokeSelf is POST /v1/auth/token/revoke-self → 204; the token stops
// working at once and the ledger records when.
func (v *vaultServer) revokeSelf(w http.ResponseWriter, r *http.Request) {
	token, t, ok := v.authenticate(r)
	if !ok || t.accessor == "root" || !v.allows(t, "auth/token/revoke-self", "update") {
		vaultPermissionDenied(w)
		return
	}
	now := time.Now()
	if !v.ledger.revoke(ProviderVault, token, now) {
		vaultPermissionDenied(w)
		return
	}
	v.revokeChildren(t, now)
	w.WriteHeader(http.StatusNoContent)
}

// revokeChildren revokes, depth first, every token t created, as Vault
// revokes a token's children with it.
func (v *vaultServer) revokeChildren(t *vaultToken, now time.Time) {
	v.mu.Lock()
	children := slices.Clone(t.children)
	v.mu.Unlock()
	for _, fp := range children {
		v.ledger.revokeFingerprint(ProviderVault, fp, now)
		v.mu.Lock()
		child := v.tokens[fp]
		v.mu.Unlock()
		if child != nil {
			v.revokeChildren(child, now)
		}
	}
}

// allows reports whether t's policies grant capability on path.
func (v *vaultServer) allows(t *vaultToken, path, capability string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return allowed(v.policies, t.policies, path, capability)
}
