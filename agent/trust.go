package agent

import (
	"fmt"
	"strings"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// trustTargetProvider returns the provider of the scopes a trust target
// (an issuer whose trust configuration chaperone writes) configures.
func trustTargetProvider(target string) (string, bool) {
	switch target {
	case "aws", "gcp", "vault":
		return target, true
	case "octo-sts":
		return "github", true
	}
	return "", false
}

// DefaultIssuer is the token issuer of a platform's hosted service.
func DefaultIssuer(platform string) string {
	if platform == PlatformGitLab {
		return "https://gitlab.com"
	}
	return "https://token.actions.githubusercontent.com"
}

// RenderedTrust is the issuer-side configuration of one scope.
type RenderedTrust struct {
	Scope     string                   `json:"scope"`
	Target    string                   `json:"target"`
	Documents []provider.TrustDocument `json:"documents"`
}

// RenderTrust writes, for every scope of cfg that the target's issuer
// serves, the trust configuration under which the bound identity (and no
// other) obtains the scope's credentials.
func RenderTrust(cfg *Config, target string, b provider.Binding) ([]RenderedTrust, error) {
	want, ok := trustTargetProvider(target)
	if !ok {
		return nil, configErrorf("policy render: target %q is not one of aws, gcp, vault, octo-sts", target)
	}
	if !strings.HasPrefix(b.Issuer, "https://") {
		return nil, configErrorf("policy render: issuer %q is not an https URL", b.Issuer)
	}
	var out []RenderedTrust
	for i, sc := range cfg.Scopes {
		if sc.Provider != want {
			continue
		}
		p, err := buildProvider(cfg, i, nil)
		if err != nil {
			return nil, err
		}
		r, ok := p.(provider.TrustRenderer)
		if !ok {
			return nil, fmt.Errorf("policy render: provider %s cannot render trust", sc.Provider)
		}
		docs, err := r.RenderTrust(b)
		if err != nil {
			return nil, configErrorf("policy render: scope %q: %v", sc.Name, err)
		}
		out = append(out, RenderedTrust{Scope: sc.Name, Target: target, Documents: docs})
	}
	if len(out) == 0 {
		return nil, configErrorf("policy render: the config has no %s scope for target %s", want, target)
	}
	return out, nil
}
