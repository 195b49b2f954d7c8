package devstack

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// vaultRule is one path block of a Vault ACL policy: an exact path, or a
// prefix when the path ends in '*'.
type vaultRule struct {
	path         string
	prefix       bool
	capabilities []string
}

// vaultPolicy is a parsed ACL policy.
type vaultPolicy []vaultRule

var (
	vaultPathBlock   = regexp.MustCompile(`(?s)path\s+"([^"]*)"\s*\{([^{}]*)\}`)
	vaultCapabilites = regexp.MustCompile(`(?s)^\s*capabilities\s*=\s*\[([^\]]*)\]\s*$`)
	hclComment       = regexp.MustCompile(`(?m)(#|//).*$`)
	vaultKnownCaps   = []string{"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "recover"}
)

// parseVaultPolicy reads the HCL of an ACL policy as Vault does for the
// subset it supports: path "P" { capabilities = [...] } blocks, with
// comments. Anything else is refused, as Vault refuses what it cannot
// parse.
func parseVaultPolicy(src string) (vaultPolicy, error) {
	text := hclComment.ReplaceAllString(src, "")
	var pol vaultPolicy
	for _, m := range vaultPathBlock.FindAllStringSubmatch(text, -1) {
		body := vaultCapabilites.FindStringSubmatch(m[2])
		if body == nil {
			return nil, fmt.Errorf("failed to parse policy: path %q: want capabilities = [...] only", m[1])
		}
		var caps []string
		for _, c := range strings.Split(body[1], ",") {
			c = strings.Trim(strings.TrimSpace(c), `"`)
			if c == "" {
				continue
			}
			if !slices.Contains(vaultKnownCaps, c) {
				return nil, fmt.Errorf("failed to parse policy: path %q: invalid capability %q", m[1], c)
			}
			caps = append(caps, c)
		}
		path := strings.TrimPrefix(m[1], "/")
		rule := vaultRule{path: path, capabilities: caps}
		if strings.HasSuffix(path, "*") {
			rule.path, rule.prefix = strings.TrimSuffix(path, "*"), true
		}
		pol = append(pol, rule)
	}
	if rest := strings.TrimSpace(vaultPathBlock.ReplaceAllString(text, "")); rest != "" || len(pol) == 0 {
		return nil, fmt.Errorf("failed to parse policy: expected path blocks only")
	}
	return pol, nil
}

// vaultDefaultPolicy is the part of Vault's built-in default policy that
// the stand-in serves.
var vaultDefaultPolicy = vaultPolicy{
	{path: "auth/token/lookup-self", capabilities: []string{"read"}},
	{path: "auth/token/renew-self", capabilities: []string{"update"}},
	{path: "auth/token/revoke-self", capabilities: []string{"update"}},
}

// allowed reports whether the policies grant capability on path, with
// Vault's precedence: the rules of every policy for the same path are
// merged, an exact path beats a prefix and a longer prefix a shorter one,
// and deny beats everything.
func allowed(policies map[string]vaultPolicy, names []string, path, capability string) bool {
	if slices.Contains(names, "root") {
		return true
	}
	best, bestLen, exact := []string(nil), -1, false
	for _, name := range names {
		for _, r := range policies[name] {
			switch {
			case !r.prefix && r.path == path:
				if !exact {
					best, exact = nil, true
				}
				best = append(best, r.capabilities...)
			case r.prefix && !exact && strings.HasPrefix(path, r.path):
				if len(r.path) > bestLen {
					best, bestLen = nil, len(r.path)
				}
				if len(r.path) == bestLen {
					best = append(best, r.capabilities...)
				}
			}
		}
	}
	return !slices.Contains(best, "deny") && slices.Contains(best, capability)
}
