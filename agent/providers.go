package agent

import (
	"fmt"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/github"
	"github.com/chaperone-ci/chaperone/agent/provider/vault"
)

// buildProvider decodes scope i's provider settings into that provider's
// Config and constructs it. Config errors name the scope and the key.
func buildProvider(c *Config, i int, o ...provider.Option) (provider.Provider, error) {
	s := c.Scopes[i]
	at := fmt.Sprintf("scopes[%d]", i)
	switch s.Provider {
	case "vault":
		return decodeProvider(c, i, func(cfg vault.Config) (provider.Provider, error) {
			return vault.New(cfg, o...)
		})
	case "github":
		return decodeProvider(c, i, func(cfg github.Config) (provider.Provider, error) {
			return github.New(cfg, o...)
		})
	case "aws", "gcp", "token-exchange", "azure":
		return nil, c.errAt(at+".provider", fmt.Sprintf("scope %q: provider %s is not supported by this version (available: vault, github)", s.Name, s.Provider))
	case "":
		return nil, c.errAt(at, fmt.Sprintf("scope %q: provider is required", s.Name))
	default:
		return nil, c.errAt(at+".provider", fmt.Sprintf("scope %q: unknown provider %q (vault, aws, gcp, github, token-exchange, azure)", s.Name, s.Provider))
	}
}

// decodeProvider decodes scope i's settings into C and hands them to
// build, wrapping validation errors with the scope's name and line.
func decodeProvider[C any](c *Config, i int, build func(C) (provider.Provider, error)) (provider.Provider, error) {
	s := c.Scopes[i]
	at := fmt.Sprintf("scopes[%d]", i)
	var cfg C
	if err := c.decode(s.Settings, &cfg, at); err != nil {
		return nil, err
	}
	p, err := build(cfg)
	if err != nil {
		return nil, c.errAt(at, fmt.Sprintf("scope %q (%s): %v", s.Name, s.Provider, err))
	}
	return p, nil
}
