package agent

import (
	"fmt"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// valueNamer is implemented by every provider: ValueNames lists the names
// its grants' Values carry (Grant.Values[i].Name, in order). The names come
// from the scope's settings and the provider's defaults, so they are known
// before anything is issued.
type valueNamer interface{ ValueNames() []string }

// jobVariable is one variable a scope puts in the job's environment.
type jobVariable struct {
	name  string
	scope int
	// public is a non-secret setting (AWS_REGION) whose value is known
	// from the config; a credential's value is known only once issued.
	public bool
	value  string
}

// jobVariables lists what scope i (built as p) puts in the job's
// environment: its public settings, and its values unless they are served
// by the local endpoint (file delivery sets each value's variable to the
// file's path).
func (c *Config) jobVariables(i int, p provider.Provider) []jobVariable {
	var out []jobVariable
	if pv, ok := p.(publicValuer); ok {
		for _, v := range pv.PublicValues() {
			out = append(out, jobVariable{name: v.Name, scope: i, public: true, value: v.Secret})
		}
	}
	if vn, ok := p.(valueNamer); ok && c.Scopes[i].Deliver != "endpoint" {
		for _, name := range vn.ValueNames() {
			out = append(out, jobVariable{name: name, scope: i})
		}
	}
	return out
}

// checkSharedVariables refuses a config in which two scopes put the same
// variable in the job's environment: the job would see only one of the two
// values, whichever sorts last. A public setting that both give the same
// value (two AWS scopes in one region) is no conflict. providers[i] is
// scope i's provider.
func (c *Config) checkSharedVariables(providers []provider.Provider) error {
	seen := map[string]jobVariable{}
	for i, p := range providers {
		for _, v := range c.jobVariables(i, p) {
			first, dup := seen[v.name]
			if !dup {
				seen[v.name] = v
				continue
			}
			if first.public && v.public && first.value == v.value {
				continue
			}
			at := fmt.Sprintf("scopes[%d]", i)
			if first.scope == i {
				return c.errAt(at, fmt.Sprintf("scope %q delivers %s twice (rename one of its values)", c.Scopes[i].Name, v.name))
			}
			return c.errAt(at, fmt.Sprintf("scopes %q and %q both deliver %s: the job would see only one of them (rename one, e.g. with the scope's env setting)",
				c.Scopes[first.scope].Name, c.Scopes[i].Name, v.name))
		}
	}
	return nil
}
