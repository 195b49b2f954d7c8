package agent

import (
	"context"
	"fmt"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// CheckPolicy asks the owner's policy about every scope of the config for
// the job's identity, as Start would, without issuing anything: it only
// obtains the identity's tokens.
func (s *Session) CheckPolicy(ctx context.Context) ([]PolicyVerdict, error) {
	if s.opts.Policy == nil {
		return nil, &ConfigError{Msg: "no policy given (--policy or CHAPERONE_POLICY)"}
	}
	id, err := s.identity()
	if err != nil {
		return nil, err
	}
	var out []PolicyVerdict
	for i, sc := range s.cfg.Scopes {
		p, err := buildProvider(s.cfg, i, s.opts.Getenv, s.providerOptions()...)
		if err != nil {
			return nil, err
		}
		v, err := s.policyVerdict(ctx, id, sc, p.Describe())
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// policyVerdict asks the owner's policy whether the job's identity (the
// claims of its token for the scope) may have the scope.
func (s *Session) policyVerdict(ctx context.Context, id *identity, sc Scope, desc provider.Description) (PolicyVerdict, error) {
	v := PolicyVerdict{Scope: sc.Name, Provider: desc.Provider, Principal: desc.Principal, Optional: sc.Optional}
	t, err := id.token(ctx, sc, desc.Audience)
	if err != nil {
		return v, fmt.Errorf("scope %q (%s): %s", sc.Name, desc.Provider, s.scrub(err.Error()))
	}
	v.Allowed, v.Reason = s.opts.Policy.Allows(policyClaims(t.stringClaims(), t.Issuer, t.Subject),
		PolicyRequest{Scope: sc.Name, Provider: desc.Provider, Principal: desc.Principal, Lifetime: desc.Lifetime})
	return v, nil
}
