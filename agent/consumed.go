package agent

import (
	"fmt"
	"slices"
	"strings"
)

// envConsumer is implemented by providers that read a variable of the
// job's environment themselves: a token exchange's client-secret-env.
type envConsumer interface{ ConsumedEnv() []string }

// consumedEnv lists the variables chaperone itself reads from the job's
// environment and the job's commands do not need: the ones holding the
// job's OIDC tokens (identity.env, default CHAPERONE_ID_TOKEN, and each
// scope's id-token-var, where the identity source reads variables; with
// keyless signing, attest.id-token-var, default SIGSTORE_ID_TOKEN) and
// the ones providers read (client-secret-env). Each name appears once, in
// config order.
func (c *Config) consumedEnv() []string {
	var names []string
	add := func(name string) {
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	src := c.Identity.Source
	if src != "github" && src != "file" {
		for _, s := range c.Scopes {
			if s.IDTokenVar != "" {
				add(s.IDTokenVar)
				continue
			}
			if src != "gitlab" {
				add(envOr(c.Identity.Env, "CHAPERONE_ID_TOKEN"))
			}
			if src != "env" {
				add("CHAPERONE_ID_TOKEN") // GitLab's default per scope
			}
		}
		if c.Attest.Signer == "keyless" {
			add(envOr(c.Attest.IDTokenVar, "SIGSTORE_ID_TOKEN"))
		}
	}
	for i := range c.Scopes {
		p, err := buildProvider(c, i, nil)
		if err != nil {
			continue // validation reports it
		}
		if ec, ok := p.(envConsumer); ok {
			for _, name := range ec.ConsumedEnv() {
				add(name)
			}
		}
	}
	return names
}

// checkKeepEnv refuses a keep-env entry that names no variable chaperone
// consumes: the job gets such a variable anyway, and the entry is likely
// a misspelling of one it does consume.
func (c *Config) checkKeepEnv() error {
	consumed := c.consumedEnv()
	for i, name := range c.KeepEnv {
		if !slices.Contains(consumed, name) {
			key := fmt.Sprintf("keep-env[%d]", i)
			reads := "none"
			if len(consumed) > 0 {
				reads = strings.Join(consumed, ", ")
			}
			return c.errAt(key, fmt.Sprintf("%s: chaperone does not read %s with this config, so the job gets it anyway (it reads: %s)", key, name, reads))
		}
	}
	return nil
}

// droppedEnv lists the consumed variables the job's commands do not get:
// consumedEnv without those keep-env keeps.
func (c *Config) droppedEnv() []string {
	var out []string
	for _, name := range c.consumedEnv() {
		if !slices.Contains(c.KeepEnv, name) {
			out = append(out, name)
		}
	}
	return out
}
