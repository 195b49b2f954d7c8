package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// octoTrustPolicy is an octo-sts trust policy
// (.github/chainguard/IDENTITY.sts.yaml), compiled: exactly one of issuer
// and issuer_pattern, exactly one of subject and subject_pattern, at most
// one of audience and audience_pattern (neither: the token's aud must hold
// the exchange's domain), anchored claim patterns, the permissions a token
// gets, and, in an organisation policy, the repositories it reaches.
type octoTrustPolicy struct {
	Issuer          string            `yaml:"issuer"`
	IssuerPattern   string            `yaml:"issuer_pattern"`
	Subject         string            `yaml:"subject"`
	SubjectPattern  string            `yaml:"subject_pattern"`
	Audience        string            `yaml:"audience"`
	AudiencePattern string            `yaml:"audience_pattern"`
	ClaimPattern    map[string]string `yaml:"claim_pattern"`
	Permissions     map[string]string `yaml:"permissions"`
	Repositories    []string          `yaml:"repositories"`

	issuerRE, subjectRE, audienceRE *regexp.Regexp
	claimRE                         map[string]*regexp.Regexp
}

// parseOctoPolicy reads a trust policy strictly (unknown keys are errors,
// as octo-sts's yaml.UnmarshalStrict makes them) and compiles it.
func parseOctoPolicy(src []byte, org bool) (*octoTrustPolicy, error) {
	var p octoTrustPolicy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("unable to parse trust policy: %v", err)
	}
	if !org && len(p.Repositories) > 0 {
		return nil, errors.New("unable to parse trust policy: repositories is a key of organisation policies only")
	}
	if err := p.compile(); err != nil {
		return nil, err
	}
	return &p, nil
}

// compileAnchored compiles a pattern that must match a whole value.
func compileAnchored(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + pattern + ")$")
}

func (p *octoTrustPolicy) compile() error {
	var err error
	switch {
	case p.Issuer != "" && p.IssuerPattern != "":
		return errors.New("trust policy: only one of issuer or issuer_pattern can be set, got both")
	case p.Issuer == "" && p.IssuerPattern == "":
		return errors.New("trust policy: one of issuer or issuer_pattern must be set, got neither")
	case p.IssuerPattern != "":
		if p.issuerRE, err = compileAnchored(p.IssuerPattern); err != nil {
			return fmt.Errorf("trust policy: invalid issuer_pattern: %w", err)
		}
	}
	switch {
	case p.Subject != "" && p.SubjectPattern != "":
		return errors.New("trust policy: only one of subject or subject_pattern can be set, got both")
	case p.Subject == "" && p.SubjectPattern == "":
		return errors.New("trust policy: one of subject or subject_pattern must be set, got neither")
	case p.SubjectPattern != "":
		if p.subjectRE, err = compileAnchored(p.SubjectPattern); err != nil {
			return fmt.Errorf("trust policy: invalid subject_pattern: %w", err)
		}
	}
	switch {
	case p.Audience != "" && p.AudiencePattern != "":
		return errors.New("trust policy: only one of audience or audience_pattern can be set, got both")
	case p.AudiencePattern != "":
		if p.audienceRE, err = compileAnchored(p.AudiencePattern); err != nil {
			return fmt.Errorf("trust policy: invalid audience_pattern: %w", err)
		}
	}
	p.claimRE = map[string]*regexp.Regexp{}
	for k, v := range p.ClaimPattern {
		if p.claimRE[k], err = compileAnchored(v); err != nil {
			return fmt.Errorf("error compiling claim_pattern[%q]: %w", k, err)
		}
	}
	for name, level := range p.Permissions {
		if permissionRank(level) <= 0 {
			return fmt.Errorf("trust policy: permission %s: %q is not read, write or admin", name, level)
		}
	}
	return nil
}

// check returns octo-sts's refusal message, or "" if the token satisfies
// the policy. domain is the exchange's own host, which the token's aud
// must hold when the policy names no audience.
func (p *octoTrustPolicy) check(tok *verifiedToken, domain string) string {
	switch {
	case p.issuerRE != nil && !p.issuerRE.MatchString(tok.issuer):
		return fmt.Sprintf("trust policy: issuer %q did not match pattern %q", tok.issuer, p.IssuerPattern)
	case p.issuerRE == nil && tok.issuer != p.Issuer:
		return fmt.Sprintf("trust policy: issuer %q did not match %q", tok.issuer, p.Issuer)
	case p.subjectRE != nil && !p.subjectRE.MatchString(tok.subject):
		return fmt.Sprintf("trust policy: subject %q did not match pattern %q", tok.subject, p.SubjectPattern)
	case p.subjectRE == nil && tok.subject != p.Subject:
		return fmt.Sprintf("trust policy: subject %q did not match %q", tok.subject, p.Subject)
	case p.audienceRE != nil && !slices.ContainsFunc(tok.audience, p.audienceRE.MatchString):
		return fmt.Sprintf("trust policy: audience_pattern %q did not match any of %q", p.AudiencePattern, tok.audience)
	case p.audienceRE == nil && p.Audience != "" && !slices.Contains(tok.audience, p.Audience):
		return fmt.Sprintf("trust policy: audience %q did not match any of %q", p.Audience, tok.audience)
	case p.audienceRE == nil && p.Audience == "" && !slices.Contains(tok.audience, domain):
		return fmt.Sprintf("trust policy: audience %q did not match any of %q", domain, tok.audience)
	}
	for _, k := range slices.Sorted(maps.Keys(p.claimRE)) {
		raw, ok := tok.claims[k]
		if !ok {
			return fmt.Sprintf("trust policy: expected claim %q not found in token", k)
		}
		if b, ok := raw.(bool); ok {
			raw = fmt.Sprint(b)
		}
		val, ok := raw.(string)
		if !ok {
			return fmt.Sprintf("trust policy: expected claim %q not a string", k)
		}
		if !p.claimRE[k].MatchString(val) {
			return fmt.Sprintf("trust policy: claim %q did not match %q", k, "^(?:"+p.ClaimPattern[k]+")$")
		}
	}
	return ""
}

// permissionRank orders GitHub App permission levels: 1 read, 2 write, 3
// admin; 0 or less for anything else.
func permissionRank(level string) int {
	return slices.Index([]string{"", "read", "write", "admin"}, level)
}

// narrow returns the permissions a token gets for a request: the policy's
// when the request names none, else the request's, each of which the
// policy must grant at that level or above; or the refusal.
func (p *octoTrustPolicy) narrow(requested map[string]string) (map[string]string, string) {
	if len(requested) == 0 {
		return maps.Clone(p.Permissions), ""
	}
	for _, name := range slices.Sorted(maps.Keys(requested)) {
		want, have := requested[name], p.Permissions[name]
		switch {
		case permissionRank(want) <= 0:
			return nil, fmt.Sprintf("invalid permission level %q for %q (read, write or admin)", want, name)
		case have == "":
			return nil, fmt.Sprintf("trust policy: permission %q is not granted by the trust policy (it grants %s)", name+": "+want, describePermissions(p.Permissions))
		case permissionRank(want) > permissionRank(have):
			return nil, fmt.Sprintf("trust policy: permission %q exceeds %q, which the trust policy grants", name+": "+want, name+": "+have)
		}
	}
	return maps.Clone(requested), ""
}

// describePermissions writes permissions as "a: read, b: write".
func describePermissions(perms map[string]string) string {
	if len(perms) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(perms)) {
		parts = append(parts, k+": "+perms[k])
	}
	return strings.Join(parts, ", ")
}
