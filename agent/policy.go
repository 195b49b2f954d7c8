package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/internal/regularfile"
)

// A Policy is the platform owner's restriction of which identities may use
// which scopes: a scope is issued only if a rule whose match
// holds for the job's identity allows it. It is held by the owner (a file
// on the runner, CHAPERONE_POLICY), not the job; a scope it refuses is not
// issued, and the refusal is attested.
//
//	version: 1
//	rules:
//	  - match: {iss: "https://token\\.actions\\.githubusercontent\\.com", repository_id: "123456"}
//	    allow: [{scope: deploy, max-duration: 15m}, {provider: vault, principal: "ci-.*"}]
type Policy struct {
	Version int          `yaml:"version"`
	Rules   []PolicyRule `yaml:"rules"`
	source  string
}

// A PolicyRule allows the grants of Allow to identities whose token claims
// match every regular expression of Match (anchored: the whole value must
// match; a claim the token lacks matches nothing).
type PolicyRule struct {
	Match map[string]string `yaml:"match"`
	Allow []PolicyGrant     `yaml:"allow"`
	match map[string]*regexp.Regexp
}

// A PolicyGrant allows the scopes that have every field it sets: the scope
// name, the provider, a principal (role, role ARN, service account; a
// regular expression), and a lifetime of at most MaxDuration, which the
// scope must state (aws duration, gcp lifetime).
type PolicyGrant struct {
	Scope       string        `yaml:"scope"`
	Provider    string        `yaml:"provider"`
	Principal   string        `yaml:"principal"`
	MaxDuration time.Duration `yaml:"max-duration"`
	principal   *regexp.Regexp
}

// MaxPolicyBytes bounds a policy file.
const MaxPolicyBytes = 1 << 20

// LoadPolicy reads the policy that --policy or CHAPERONE_POLICY names: a
// path (of a regular file), or inline YAML.
func LoadPolicy(pathOrYAML string) (*Policy, error) {
	if strings.Contains(pathOrYAML, "\n") || strings.HasPrefix(strings.TrimSpace(pathOrYAML), "version:") {
		return ParsePolicy([]byte(pathOrYAML), "(inline)")
	}
	f, err := regularfile.Open(pathOrYAML)
	if err != nil {
		return nil, configErrorf("policy %s: %v", pathOrYAML, errors.Unwrap(err))
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxPolicyBytes+1)); err != nil {
		return nil, configErrorf("policy %s: %v", pathOrYAML, err)
	}
	return ParsePolicy(buf.Bytes(), pathOrYAML)
}

// ParsePolicy decodes and checks a policy. Unknown keys are errors, named
// with their line.
func ParsePolicy(data []byte, source string) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, configErrorf("policy %s: larger than %d bytes", source, MaxPolicyBytes)
	}
	p := &Policy{source: source}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, configErrorf("policy %s: empty", source)
		}
		return nil, configErrorf("policy %s: %s", source, yamlMessage(err))
	}
	if p.Version != 1 {
		return nil, configErrorf("policy %s: version %d, want 1", source, p.Version)
	}
	if len(p.Rules) == 0 {
		return nil, configErrorf("policy %s: no rules (a policy without rules would refuse every scope)", source)
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if len(r.Match) == 0 {
			return nil, configErrorf("policy %s: rules[%d]: match is empty (name the claims an identity must have)", source, i)
		}
		r.match = map[string]*regexp.Regexp{}
		for claim, expr := range r.Match {
			re, err := regexp.Compile("^(?:" + expr + ")$")
			if err != nil {
				return nil, configErrorf("policy %s: rules[%d].match.%s: %v", source, i, claim, err)
			}
			r.match[claim] = re
		}
		if len(r.Allow) == 0 {
			return nil, configErrorf("policy %s: rules[%d]: allow is empty", source, i)
		}
		for j := range r.Allow {
			g := &r.Allow[j]
			if g.Scope == "" && g.Provider == "" && g.Principal == "" {
				return nil, configErrorf("policy %s: rules[%d].allow[%d]: names no scope, provider or principal", source, i, j)
			}
			if g.MaxDuration < 0 {
				return nil, configErrorf("policy %s: rules[%d].allow[%d].max-duration is negative", source, i, j)
			}
			if g.Principal != "" {
				re, err := regexp.Compile("^(?:" + g.Principal + ")$")
				if err != nil {
					return nil, configErrorf("policy %s: rules[%d].allow[%d].principal: %v", source, i, j, err)
				}
				g.principal = re
			}
		}
	}
	return p, nil
}

// yamlMessage makes yaml.v3's errors one line: "line 4: field rolle not
// found in type agent.PolicyGrant" becomes `line 4: unknown key "rolle"`.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if field, rest, ok := strings.Cut(l, ": field "); ok {
			if name, _, ok := strings.Cut(rest, " not found in type"); ok {
				l = fmt.Sprintf("%s: unknown key %q", field, name)
			}
		}
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// policyClaims are the claims a policy matches: the recorded ones (which
// leave out the issuer and subject), with the issuer and subject.
func policyClaims(recorded map[string]string, issuer, subject string) map[string]string {
	claims := make(map[string]string, len(recorded)+2)
	for k, v := range recorded {
		claims[k] = v
	}
	claims["iss"], claims["sub"] = issuer, subject
	return claims
}

// PolicyRequest is what a scope asks for, as a policy judges it.
type PolicyRequest struct {
	Scope, Provider, Principal string
	// Lifetime is the lifetime the scope asks for; 0 if it does not say.
	Lifetime time.Duration
}

// Allows reports whether an identity with claims may obtain req, and if
// not, why (naming no claim value: claims are not secrets, but the reason
// goes to logs and attestations, and the rule's text is the owner's).
func (p *Policy) Allows(claims map[string]string, req PolicyRequest) (bool, string) {
	matched := 0
	var why []string
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.matches(claims) {
			continue
		}
		matched++
		for j := range r.Allow {
			ok, reason := r.Allow[j].allows(req)
			if ok {
				return true, ""
			}
			if reason != "" {
				why = append(why, fmt.Sprintf("rules[%d].allow[%d]: %s", i, j, reason))
			}
		}
	}
	switch {
	case matched == 0:
		return false, fmt.Sprintf("policy %s: no rule matches this identity", p.source)
	case len(why) > 0:
		sort.Strings(why)
		return false, fmt.Sprintf("policy %s: %s", p.source, strings.Join(why, "; "))
	}
	return false, fmt.Sprintf("policy %s: no rule for this identity allows scope %q (%s %s)", p.source, req.Scope, req.Provider, req.Principal)
}

func (r *PolicyRule) matches(claims map[string]string) bool {
	for claim, re := range r.match {
		v, ok := claims[claim]
		if !ok || !re.MatchString(v) {
			return false
		}
	}
	return true
}

// allows reports whether g allows req; when g names req but its lifetime
// is not allowed, the reason says so.
func (g *PolicyGrant) allows(req PolicyRequest) (bool, string) {
	if g.Scope != "" && g.Scope != req.Scope || g.Provider != "" && g.Provider != req.Provider ||
		g.principal != nil && !g.principal.MatchString(req.Principal) {
		return false, ""
	}
	switch {
	case g.MaxDuration == 0:
		return true, ""
	case req.Lifetime == 0:
		return false, fmt.Sprintf("max-duration %s, and scope %q does not state its lifetime", g.MaxDuration, req.Scope)
	case req.Lifetime > g.MaxDuration:
		return false, fmt.Sprintf("scope %q asks for %s, more than max-duration %s", req.Scope, req.Lifetime, g.MaxDuration)
	}
	return true, ""
}

// issuanceSlack is how much longer than it asked for an attested grant may
// seem to live: the time the exchange took, and clock skew.
const issuanceSlack = time.Minute

// GrantRefusal judges an attested grant as Allows judged the scope when it
// was issued, with the identity's attested claims and the lifetime the
// grant was issued for: "" if the policy allows it, else why not. It is
// verify.Policy.OwnerPolicy for `chaperone verify --policy`.
func (p *Policy) GrantRefusal(id attest.Identity, g attest.Grant) string {
	claims := policyClaims(id.Claims, id.Issuer, id.Subject)
	req := PolicyRequest{Scope: g.Scope, Provider: g.Provider, Principal: g.Principal}
	if !g.ExpiresAt.IsZero() {
		// issuedAt is taken before the request (and its retries) and
		// the expiry is the issuer's clock: allow them a minute.
		req.Lifetime = max(g.ExpiresAt.Sub(g.IssuedAt)-issuanceSlack, time.Second)
	}
	if ok, why := p.Allows(claims, req); !ok {
		return why
	}
	return ""
}

// A PolicyVerdict is the policy's answer for one scope of the config.
type PolicyVerdict struct {
	Scope     string `json:"scope"`
	Provider  string `json:"provider"`
	Principal string `json:"principal"`
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason,omitempty"`
	// Optional: the scope is optional, so its refusal would not fail the
	// run; the job would run without it.
	Optional bool `json:"optional,omitempty"`
}

// FailsRun reports whether this verdict would fail the run: a refusal of
// a scope that is not optional.
func (v PolicyVerdict) FailsRun() bool { return !v.Allowed && !v.Optional }
