package verify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/attest"
)

// Policy is what a verified job attestation must say, beyond being
// authentic: the auditor's rules about the credentials the job held. The
// zero value checks nothing. Every rule that is set becomes one check in
// the Result, and a failure names the grants that broke it.
type Policy struct {
	// RequireRevoked: every revocable grant was revoked at job end. A grant
	// is revocable unless its outcome is "expiry" (the provider has no
	// revocation, e.g. AWS STS), and grants of providers known to support
	// revocation (vault, openbao, github) are revocable whatever
	// they say, so an agent cannot pass such a grant off as expiry-bound.
	RequireRevoked bool

	// MaxGrantTTL, when positive, bounds each grant's lifetime: expiresAt −
	// issuedAt as issued (whether or not it was revoked early, since that
	// is the exposure had revocation failed). A grant with no expiry must
	// have been revoked, and its lifetime is then revocation − issuedAt.
	MaxGrantTTL time.Duration

	// AllowScopes, when not empty, lists the only scope names grants may
	// have. AllowProviders does the same for providers.
	AllowScopes    []string
	AllowProviders []string

	// RequireOutcome, when set, is the job outcome the predicate must
	// record (one of attest.Outcomes: success, failure, agent-error).
	RequireOutcome string

	// OwnerPolicy, when set, judges every grant together with the attested
	// identity: a rule from outside this package (the platform owner's
	// policy file, agent.Policy). It returns "" to allow the grant, else
	// why not.
	OwnerPolicy func(id attest.Identity, g attest.Grant) (refusal string)
}

// alwaysRevocable reports whether a provider's credentials can always be
// revoked: a grant from one that was left to expire breaks
// Policy.RequireRevoked.
func alwaysRevocable(provider string) bool {
	switch provider {
	case "vault", "openbao", "github":
		return true
	}
	return false
}

// IsZero reports whether the policy checks nothing.
func (p Policy) IsZero() bool {
	return !p.RequireRevoked && p.MaxGrantTTL == 0 && len(p.AllowScopes) == 0 &&
		len(p.AllowProviders) == 0 && p.RequireOutcome == "" && p.OwnerPolicy == nil
}

func (p Policy) validate() error {
	if p.MaxGrantTTL < 0 {
		return fmt.Errorf("policy: maximum grant lifetime %s is negative", p.MaxGrantTTL)
	}
	if p.RequireOutcome != "" && !slices.Contains(attest.Outcomes, p.RequireOutcome) {
		return fmt.Errorf("policy: required outcome %q is not one of %s", p.RequireOutcome, strings.Join(attest.Outcomes, ", "))
	}
	for _, s := range p.AllowScopes {
		if s == "" {
			return fmt.Errorf("policy: an allowed scope is empty")
		}
	}
	for _, s := range p.AllowProviders {
		if s == "" {
			return fmt.Errorf("policy: an allowed provider is empty")
		}
	}
	return nil
}

// policyCheck is one evaluated rule: its check name and the violations.
type policyCheck struct {
	name       string
	pass       string   // detail when it passes
	violations []string // empty when it passes
}

// evaluate applies the policy's rules to a predicate, in a fixed order.
func (p Policy) evaluate(pred *attest.JobPredicate) []policyCheck {
	var out []policyCheck
	if p.RequireRevoked {
		c := policyCheck{name: CheckRequireRevoked}
		revoked, exempt := 0, 0
		for i, g := range pred.Grants {
			switch {
			case g.Revocation.Outcome == attest.RevocationRevoked:
				revoked++
			case g.Revocation.Outcome == attest.RevocationExpiry && !alwaysRevocable(g.Provider):
				exempt++
			case g.Revocation.Outcome == attest.RevocationExpiry:
				c.violations = append(c.violations, fmt.Sprintf("%s was left to expire, but %s credentials can be revoked", grantName(i, g), g.Provider))
			case g.Revocation.Outcome == attest.RevocationFailed:
				c.violations = append(c.violations, fmt.Sprintf("%s was not revoked: revocation failed: %s", grantName(i, g), g.Revocation.Error))
			default:
				c.violations = append(c.violations, fmt.Sprintf("%s was not revoked (outcome %q)", grantName(i, g), g.Revocation.Outcome))
			}
		}
		c.pass = fmt.Sprintf("%d revocable grant(s) revoked, %d not revocable (expiry-bound)", revoked, exempt)
		out = append(out, c)
	}
	if p.MaxGrantTTL > 0 {
		c := policyCheck{name: CheckMaxGrantTTL, pass: fmt.Sprintf("every grant lived at most %s", p.MaxGrantTTL)}
		for i, g := range pred.Grants {
			switch {
			case !g.ExpiresAt.IsZero():
				if ttl := g.ExpiresAt.Sub(g.IssuedAt); ttl > p.MaxGrantTTL {
					c.violations = append(c.violations, fmt.Sprintf("%s was issued for %s, more than %s", grantName(i, g), ttl, p.MaxGrantTTL))
				}
			case g.Revocation.Outcome == attest.RevocationRevoked && g.Revocation.At != nil:
				if ttl := g.Revocation.At.Sub(g.IssuedAt); ttl > p.MaxGrantTTL {
					c.violations = append(c.violations, fmt.Sprintf("%s has no expiry and lived %s before revocation, more than %s", grantName(i, g), ttl, p.MaxGrantTTL))
				}
			default:
				c.violations = append(c.violations, fmt.Sprintf("%s has no expiry and was not revoked: its lifetime is unbounded", grantName(i, g)))
			}
		}
		out = append(out, c)
	}
	if len(p.AllowScopes) > 0 {
		c := policyCheck{name: CheckAllowedScopes, pass: "every grant's scope is one of " + strings.Join(p.AllowScopes, ", ")}
		for i, g := range pred.Grants {
			if !slices.Contains(p.AllowScopes, g.Scope) {
				c.violations = append(c.violations, fmt.Sprintf("%s: scope %q is not allowed", grantName(i, g), g.Scope))
			}
		}
		out = append(out, c)
	}
	if len(p.AllowProviders) > 0 {
		c := policyCheck{name: CheckAllowedProvider, pass: "every grant's provider is one of " + strings.Join(p.AllowProviders, ", ")}
		for i, g := range pred.Grants {
			if !slices.Contains(p.AllowProviders, g.Provider) {
				c.violations = append(c.violations, fmt.Sprintf("%s: provider %q is not allowed", grantName(i, g), g.Provider))
			}
		}
		out = append(out, c)
	}
	if p.OwnerPolicy != nil {
		c := policyCheck{name: CheckOwnerPolicy, pass: fmt.Sprintf("the owner's policy allows all %d grant(s) for this identity", len(pred.Grants))}
		for i, g := range pred.Grants {
			if why := p.OwnerPolicy(pred.Identity, g); why != "" {
				c.violations = append(c.violations, fmt.Sprintf("%s: %s", grantName(i, g), why))
			}
		}
		out = append(out, c)
	}
	if p.RequireOutcome != "" {
		c := policyCheck{name: CheckRequireOutcome, pass: "outcome is " + p.RequireOutcome}
		if pred.Outcome != p.RequireOutcome {
			c.violations = append(c.violations, fmt.Sprintf("job outcome is %q, want %q", pred.Outcome, p.RequireOutcome))
		}
		out = append(out, c)
	}
	return out
}

// grantName identifies a grant in a message: its index, scope, provider
// and principal.
func grantName(i int, g attest.Grant) string {
	s := fmt.Sprintf("grants[%d] (scope %q, provider %s", i, g.Scope, g.Provider)
	if g.Principal != "" {
		s += ", principal " + g.Principal
	}
	return s + ")"
}
