package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/internal/devstack"
)

func devstackCommand() *cli.Command {
	return &cli.Command{
		Name:  "devstack",
		Usage: "serve the embedded local backends (OIDC issuer, Vault, GitHub exchange, AWS, GCP, token exchange, Azure, OCI registry) until interrupted",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "env-file", EnvVars: []string{"CHAPERONE_DEVSTACK_ENV_FILE"}, Usage: "write NAME=value lines here, for set -a; . FILE (default: print them)"},
			&cli.StringFlag{Name: "platform", Value: "github", EnvVars: []string{"CHAPERONE_DEVSTACK_PLATFORM"}, Usage: "github or gitlab: which runner the environment imitates"},
			&cli.DurationFlag{Name: "token-ttl", Value: 5 * time.Minute, EnvVars: []string{"CHAPERONE_DEVSTACK_TOKEN_TTL"}, Usage: "lifetime of the OIDC tokens the issuer mints"},
			&cli.DurationFlag{Name: "credential-ttl", EnvVars: []string{"CHAPERONE_DEVSTACK_CREDENTIAL_TTL"}, Usage: "cap the lifetime of AWS, GCP, token-exchange and Azure credentials (e.g. 30s, to watch renewal)"},
			&cli.StringFlag{Name: "dir", EnvVars: []string{"CHAPERONE_DEVSTACK_DIR"}, Usage: "directory for the generated config and keys (default: a temporary one, removed on exit)"},
		},
		Action: func(c *cli.Context) error {
			platform := c.String("platform")
			if c.Duration("token-ttl") <= 0 {
				return usagef("devstack: --token-ttl must be positive")
			}
			if platform != "github" && platform != "gitlab" {
				return usagef("devstack: --platform %q is not one of github, gitlab", platform)
			}
			st, err := devstack.Start(c.Context, devstack.Options{Platform: platform, Dir: c.String("dir"), TokenTTL: c.Duration("token-ttl"), CredentialTTL: c.Duration("credential-ttl"), AllProviders: true})
			if err != nil {
				return fmt.Errorf("devstack: %w", err)
			}
			defer st.Close()
			if path := c.String("env-file"); path != "" {
				if err := st.WriteEnvFile(path); err != nil {
					return fmt.Errorf("devstack: %w", err)
				}
				fmt.Fprintf(c.App.ErrWriter, "devstack: serving on %s; environment in %s (set -a; . %s; set +a)\n", st.URL, path, path)
			} else {
				for _, kv := range st.Env() {
					fmt.Fprintln(c.App.Writer, kv)
				}
				fmt.Fprintf(c.App.ErrWriter, "devstack: serving on %s\n", st.URL)
			}
			fmt.Fprintln(c.App.ErrWriter, "devstack: press Ctrl-C to stop")
			<-c.Context.Done()
			fmt.Fprintln(c.App.ErrWriter, "devstack: stopping")
			if path := c.String("env-file"); path != "" {
				_ = os.Remove(path)
			}
			return nil
		},
	}
}
