package agent

import (
	"errors"
	"fmt"

	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/agent/provider/aws"
	"github.com/chaperone-ci/chaperone/agent/provider/azure"
	"github.com/chaperone-ci/chaperone/agent/provider/gcp"
	"github.com/chaperone-ci/chaperone/agent/provider/github"
	"github.com/chaperone-ci/chaperone/agent/provider/tokenexchange"
	"github.com/chaperone-ci/chaperone/agent/provider/vault"
)

// buildProvider decodes scope i's provider settings into that provider's
// Config and constructs it. Config errors name the scope and the key.
// getenv supplies job facts some providers derive settings from (the AWS
// RoleSessionName, the GitHub API that revokes); nil when only validating.
func buildProvider(c *Config, i int, getenv func(string) string, o ...provider.Option) (provider.Provider, error) {
	s := c.Scopes[i]
	at := fmt.Sprintf("scopes[%d]", i)
	switch s.Provider {
	case "vault":
		return decodeProvider(c, i, func(cfg vault.Config) (provider.Provider, error) {
			return vault.New(cfg, o...)
		})
	case "github":
		return decodeProvider(c, i, func(cfg github.Config) (provider.Provider, error) {
			if cfg.API == "" && getenv != nil {
				api, err := github.APIFromEnv(getenv)
				if err != nil {
					return nil, err
				}
				cfg.API = api
			}
			return github.New(cfg, o...)
		})
	case "aws":
		return decodeProvider(c, i, func(cfg aws.Config) (provider.Provider, error) {
			if cfg.SessionName == "" && getenv != nil {
				cfg.SessionName = aws.SessionNameFromEnv(getenv)
			}
			return aws.New(cfg, o...)
		})
	case "gcp":
		return decodeProvider(c, i, func(cfg gcp.Config) (provider.Provider, error) { return gcp.New(cfg, o...) })
	case "token-exchange":
		return decodeProvider(c, i, func(cfg tokenexchange.Config) (provider.Provider, error) { return tokenexchange.New(cfg, o...) })
	case "azure":
		return decodeProvider(c, i, func(cfg azure.Config) (provider.Provider, error) { return azure.New(cfg, o...) })
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
	if err := c.decode(s.Settings, &cfg, at, fmt.Sprintf("scope %q", s.Name)); err != nil {
		return nil, err
	}
	p, err := build(cfg)
	if err != nil {
		// Point at the refused setting's line when the provider names it.
		path := at
		var ke *provider.KeyError
		if errors.As(err, &ke) && ke.Key != "" {
			path = at + "." + ke.Key
		}
		return nil, c.errAt(path, fmt.Sprintf("scope %q (%s): %v", s.Name, s.Provider, err))
	}
	return p, nil
}

// publicValuer is implemented by providers with non-secret settings the job
// needs besides the credential (AWS_REGION, GOOGLE_CLOUD_PROJECT, ...).
type publicValuer interface{ PublicValues() []provider.Value }

// clientSecreter is implemented by providers that read a credential of
// their own (an OAuth client secret), which must be masked too.
type clientSecreter interface{ ClientSecret() (string, error) }
