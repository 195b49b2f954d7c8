package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/masking"
)

func maskCommand() *cli.Command {
	return &cli.Command{
		Name:  "mask",
		Usage: "filter stdin to stdout, masking secrets (streaming; nothing is line-buffered)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "secrets-file", EnvVars: []string{"CHAPERONE_SECRETS_FILE"}, Usage: "file of secrets: a JSON array of strings, or one per line"},
			&cli.StringSliceFlag{Name: "secret-env", EnvVars: []string{"CHAPERONE_SECRET_ENV"}, Usage: "name of an environment variable holding a secret (repeatable)"},
			&cli.StringSliceFlag{Name: "token-prefix", EnvVars: []string{"CHAPERONE_TOKEN_PREFIX"}, Usage: "mask whatever token follows this prefix (repeatable)"},
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{"CHAPERONE_STATE_DIR"}, Usage: "also mask every secret of the session started there"},
			&cli.StringFlag{Name: "mask", Value: "***", EnvVars: []string{"CHAPERONE_MASK"}, Usage: "the mask token"},
			&cli.IntFlag{Name: "min-length", Value: 4, EnvVars: []string{"CHAPERONE_MASK_MIN_LENGTH"}, Usage: "secrets shorter than this are not masked (a warning says so)"},
		},
		Action: func(c *cli.Context) error {
			set := masking.NewSet(masking.Options{Mask: c.String("mask"), MinLength: c.Int("min-length")})
			var secrets []string
			if path := c.String("secrets-file"); path != "" {
				parsed, err := masking.ReadSecretsFile(path)
				if err != nil {
					return usagef("mask: --secrets-file %s: %v", path, err)
				}
				secrets = append(secrets, parsed...)
			}
			for _, name := range c.StringSlice("secret-env") {
				v, ok := os.LookupEnv(name)
				if !ok {
					return usagef("mask: --secret-env %s: variable is not set", name)
				}
				secrets = append(secrets, v)
			}
			if len(c.StringSlice("token-prefix")) > 0 {
				return usagef("mask: --token-prefix is not supported by this version")
			}
			if dir := c.String("state-dir"); dir != "" {
				s, err := agent.Resume(agent.Options{StateDir: dir, Log: io.Discard})
				if err != nil {
					return err
				}
				secrets = append(secrets, s.Secrets()...)
			}
			if skipped := set.Add(secrets...); skipped > 0 {
				fmt.Fprintf(c.App.ErrWriter, "chaperone: %d secret(s) shorter than %d bytes are not masked\n", skipped, c.Int("min-length"))
			}
			w := set.NewWriter(c.App.Writer)
			if _, err := io.Copy(w, c.App.Reader); err != nil {
				_ = w.Close()
				return fmt.Errorf("mask: %w", err)
			}
			return w.Close()
		},
	}
}
