package agent

import (
	"context"
	"slices"
	"testing"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// TestProvidersNameTheirValuesBeforeIssuing: the names the config check
// compares are the names every provider's grants carry once issued.
func TestProvidersNameTheirValuesBeforeIssuing(t *testing.T) {
	st := stack(t, devstack.Options{AllProviders: true})
	s, _ := newTestSession(t, st, "    secrets:\n", "    token-env: VAULT_TOKEN\n    secrets:\n")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Stop(context.Background()) })
	seen := map[string]bool{}
	for _, g := range s.st.Grants {
		i := slices.IndexFunc(s.cfg.Scopes, func(sc Scope) bool { return sc.Name == g.Scope })
		p, err := buildProvider(s.cfg, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		vn, ok := p.(valueNamer)
		if !ok {
			t.Errorf("provider %s does not name its values before issuing", g.Provider)
			continue
		}
		var issued []string
		for _, v := range g.Grant.Values {
			issued = append(issued, v.Name)
		}
		if declared := vn.ValueNames(); !slices.Equal(declared, issued) {
			t.Errorf("scope %s (%s): declared %q, issued %q", g.Scope, g.Provider, declared, issued)
		}
		seen[g.Provider] = true
	}
	for _, name := range []string{"vault", "github", "aws", "gcp", "token-exchange", "azure"} {
		if !seen[name] {
			t.Errorf("no %s grant was issued", name)
		}
	}
}
