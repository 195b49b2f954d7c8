package devstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VaultRootToken is the Vault stand-in's root token (random per Start): it
// configures JWT roles, the JWT mount and ACL policies through Vault's API,
// as VAULT_TOKEN does for the vault CLI. It is a secret.
func (s *Stack) VaultRootToken() string { return s.vault.rootToken }

// vaultName is what Vault accepts as a role or policy name.
var vaultName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// requireRoot answers 403 unless the request carries the root token.
func (v *vaultServer) requireRoot(w http.ResponseWriter, r *http.Request) bool {
	_, t, ok := v.authenticate(r)
	if !ok || !slices.Contains(t.policies, "root") {
		vaultPermissionDenied(w)
		return false
	}
	return true
}

// decodeVaultBody reads a JSON object body, answering 400 as Vault does.
func decodeVaultBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	body, err := readBody(w, r)
	if err != nil {
		vaultError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	fields := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			vaultError(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return nil, false
		}
	}
	return fields, true
}

// vaultStrings reads a Vault list field: a JSON array of strings or a
// comma-separated string.
func vaultStrings(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("expected a list of strings, got %v", v)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a list of strings, got %v", v)
}

// vaultDuration reads a Vault duration field: seconds as a number or a
// string of digits, or a Go duration string ("15m").
func vaultDuration(v any) (time.Duration, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return time.Duration(v) * time.Second, nil
	case string:
		if v == "" {
			return 0, nil
		}
		if n, err := strconv.Atoi(v); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("invalid duration %q", v)
		}
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %v", v)
}

// vaultRoleFields are the JWT role parameters the stand-in honours; others
// are ignored with a warning, as Vault ignores unrecognised parameters.
var vaultRoleFields = []string{"role_type", "bound_audiences", "bound_subject", "bound_claims", "bound_claims_type", "user_claim", "token_policies", "policies", "token_ttl", "token_max_ttl", "token_type"}

// writeRole is POST/PUT /v1/auth/jwt/role/NAME (root only): a JWT role as
// `vault write auth/jwt/role/NAME @role.json` writes it.
func (v *vaultServer) writeRole(w http.ResponseWriter, r *http.Request, name string) {
	if !v.requireRoot(w, r) {
		return
	}
	name = strings.ToLower(name)
	if !vaultName.MatchString(name) {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", name))
		return
	}
	f, ok := decodeVaultBody(w, r)
	if !ok {
		return
	}
	role, err := parseVaultRole(f)
	if err != nil {
		vaultError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ignored []string
	for k := range f {
		if !slices.Contains(vaultRoleFields, k) {
			ignored = append(ignored, k)
		}
	}
	v.mu.Lock()
	v.roles[name] = role
	v.mu.Unlock()
	if len(ignored) > 0 {
		slices.Sort(ignored)
		writeJSON(w, http.StatusOK, map[string]any{"warnings": []string{fmt.Sprintf("Endpoint ignored these unrecognized parameters: %v", ignored)}})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseVaultRole checks a JWT role's fields as Vault's JWT auth plugin does.
func parseVaultRole(f map[string]any) (vaultRole, error) {
	var role vaultRole
	if rt, _ := f["role_type"].(string); rt != "" && rt != "jwt" {
		return role, fmt.Errorf("role_type %q is not supported by the stand-in's JWT login (only jwt)", rt)
	}
	var err error
	if role.boundAudiences, err = vaultStrings(f["bound_audiences"]); err != nil {
		return role, fmt.Errorf("bound_audiences: %v", err)
	}
	role.boundSubject, _ = f["bound_subject"].(string)
	switch f["bound_claims_type"] {
	case nil, "", "string":
	case "glob":
		role.globClaims = true
	default:
		return role, fmt.Errorf("invalid 'bound_claims_type': %v", f["bound_claims_type"])
	}
	if raw, ok := f["bound_claims"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return role, fmt.Errorf("bound_claims: expected a map, got %v", raw)
		}
		role.boundClaims = map[string][]string{}
		for k, val := range m {
			vals, err := vaultStrings(val)
			if s, ok := val.(string); ok {
				vals, err = []string{s}, nil
			}
			if err != nil || len(vals) == 0 {
				return role, fmt.Errorf("bound claim is not a string or list: %v", val)
			}
			role.boundClaims[k] = vals
		}
	}
	if role.userClaim, _ = f["user_claim"].(string); role.userClaim == "" {
		return role, fmt.Errorf("a user claim must be defined on the role")
	}
	if len(role.boundAudiences) == 0 && role.boundSubject == "" && len(role.boundClaims) == 0 {
		return role, fmt.Errorf("must have at least one bound constraint when creating/updating a role")
	}
	policies := f["token_policies"]
	if policies == nil {
		policies = f["policies"]
	}
	if role.policies, err = vaultStrings(policies); err != nil {
		return role, fmt.Errorf("token_policies: %v", err)
	}
	if role.ttl, err = vaultDuration(f["token_ttl"]); err != nil {
		return role, fmt.Errorf("token_ttl: %v", err)
	}
	maxTTL, err := vaultDuration(f["token_max_ttl"])
	if err != nil {
		return role, fmt.Errorf("token_max_ttl: %v", err)
	}
	if maxTTL > 0 && role.ttl > maxTTL {
		return role, fmt.Errorf("ttl should not be greater than max ttl")
	}
	switch f["token_type"] {
	case nil, "", "default", "service", "default-service":
	case "batch", "default-batch":
		return role, fmt.Errorf("token_type batch is not served by the stand-in: batch tokens cannot be revoked")
	default:
		return role, fmt.Errorf("invalid 'token_type' value %v", f["token_type"])
	}
	return role, nil
}

// writeConfig is POST/PUT /v1/auth/jwt/config (root only): the mount's
// issuer, as `vault write auth/jwt/config @config.json` sets it. The
// stand-in knows one issuer's keys: a discovery URL naming another is
// refused, as Vault refuses one it cannot fetch.
func (v *vaultServer) writeConfig(w http.ResponseWriter, r *http.Request) {
	if !v.requireRoot(w, r) {
		return
	}
	f, ok := decodeVaultBody(w, r)
	if !ok {
		return
	}
	discovery, _ := f["oidc_discovery_url"].(string)
	if discovery == "" {
		vaultError(w, http.StatusBadRequest, "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set")
		return
	}
	if strings.TrimSuffix(discovery, "/") != v.issuer {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("error checking oidc discovery URL: the stand-in serves the keys of %s only", v.issuer))
		return
	}
	bound, _ := f["bound_issuer"].(string)
	v.mu.Lock()
	v.boundIssuer = bound
	v.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// writePolicy is PUT/POST /v1/sys/policies/acl/NAME (root only) with
// {"policy": HCL}, as `vault policy write NAME FILE` sends it.
func (v *vaultServer) writePolicy(w http.ResponseWriter, r *http.Request, name string) {
	if !v.requireRoot(w, r) {
		return
	}
	name = strings.ToLower(name)
	if !vaultName.MatchString(name) || name == "root" || name == "default" {
		vaultError(w, http.StatusBadRequest, fmt.Sprintf("cannot write policy %q", name))
		return
	}
	f, ok := decodeVaultBody(w, r)
	if !ok {
		return
	}
	src, _ := f["policy"].(string)
	if src == "" {
		vaultError(w, http.StatusBadRequest, "'policy' parameter not supplied or empty")
		return
	}
	pol, err := parseVaultPolicy(src)
	if err != nil {
		vaultError(w, http.StatusBadRequest, err.Error())
		return
	}
	v.mu.Lock()
	v.policies[name] = pol
	v.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// createToken is POST /v1/auth/token/create: a child of the calling token
// with the policies asked for (by default the caller's), which must be a
// subset of the caller's, and a ttl that cannot outlive it; "default" is
// added unless no_default_policy is set. The caller's policies must grant
// create or update on auth/token/create.
func (v *vaultServer) createToken(w http.ResponseWriter, r *http.Request) {
	_, parent, ok := v.authenticate(r)
	if !ok || (!v.allows(parent, "auth/token/create", "update") && !v.allows(parent, "auth/token/create", "create")) {
		vaultPermissionDenied(w)
		return
	}
	f, ok := decodeVaultBody(w, r)
	if !ok {
		return
	}
	policies, err := vaultStrings(f["policies"])
	if err != nil {
		vaultError(w, http.StatusBadRequest, "policies: "+err.Error())
		return
	}
	if len(policies) == 0 {
		policies = slices.DeleteFunc(slices.Clone(parent.policies), func(p string) bool { return p == "default" })
	}
	noDefault, _ := f["no_default_policy"].(bool)
	if !noDefault && !slices.Contains(policies, "default") {
		policies = append(policies, "default")
	}
	policies = slices.Compact(slices.Sorted(slices.Values(policies)))
	if !slices.Contains(parent.policies, "root") {
		for _, p := range policies {
			if p != "default" && !slices.Contains(parent.policies, p) {
				vaultError(w, http.StatusBadRequest, "child policies must be subset of parent")
				return
			}
		}
	}
	ttl, err := vaultDuration(f["ttl"])
	if err != nil {
		vaultError(w, http.StatusBadRequest, "ttl: "+err.Error())
		return
	}
	now := time.Now().UTC()
	if ttl == 0 {
		ttl = v.ttl
	}
	if parent.ttl > 0 {
		// A child is revoked with its parent, at the latest when it expires.
		if left := parent.issuedAt.Add(parent.ttl).Sub(now); ttl > left {
			ttl = left.Truncate(time.Second)
		}
	}
	display, _ := f["display_name"].(string)
	child := &vaultToken{
		accessor:    randomString(24, alnumChars),
		displayName: "token-" + display,
		policies:    policies,
		issuedAt:    now,
		ttl:         ttl,
		path:        "auth/token/create",
	}
	clientToken := v.issue(child)
	v.mu.Lock()
	parent.children = append(parent.children, fingerprint(clientToken))
	v.mu.Unlock()
	writeJSON(w, http.StatusOK, vaultEnvelope(nil, v.authBlock(clientToken, child, false)))
}

// globMatch matches s against pattern, where '*' matches any run of
// characters (Vault's bound_claims_type glob).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
