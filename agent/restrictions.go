package agent

import (
	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/attest"
)

// attestedRestrictions is the attested form of a grant's restrictions (nil
// for none).
func attestedRestrictions(r *provider.Restrictions) *attest.Restrictions {
	if r == nil {
		return nil
	}
	return &attest.Restrictions{
		SessionPolicy: r.SessionPolicy,
		PolicyARNs:    r.PolicyARNs,
		Permissions:   r.Permissions,
		Repositories:  r.Repositories,
		Policies:      r.Policies,
		Scopes:        r.Scopes,
		Resource:      r.Resource,
	}
}
