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
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{"CHAPERONE_STATE_DIR"}, Usage: "also mask every secret of the session started there (default: the session `start` made in its default directory, if any)"},
			&cli.BoolFlag{Name: "job-output", Usage: "carry the rest of a shell job's output, as `start` in shell mode runs it: the session's own masker, recorded in its state directory so that `stop` waits for it and attests its redactions"},
			&cli.StringFlag{Name: "mask", Value: "***", EnvVars: []string{"CHAPERONE_MASK"}, Usage: "the mask token"},
			&cli.IntFlag{Name: "min-length", Value: 4, EnvVars: []string{"CHAPERONE_MASK_MIN_LENGTH"}, Usage: "secrets shorter than this are not masked (a warning says so)"},
			&cli.StringFlag{Name: "add-mask", Value: "auto", EnvVars: []string{"CHAPERONE_MASK_ADD_MASK"}, Usage: "lines ::add-mask::VALUE register VALUE: forward (pass the line on for the GitHub runner), redact, off, or auto (forward on GitHub, else redact)"},
			&cli.StringFlag{Name: "detectors", Value: "default", EnvVars: []string{"CHAPERONE_MASK_DETECTORS"}, Usage: "detectors for unregistered secrets: default, none, or a comma-separated list of rule ids"},
		},
		Action: func(c *cli.Context) error {
			mode, err := addMaskMode(c.String("add-mask"))
			if err != nil {
				return err
			}
			if c.Bool("job-output") {
				return maskJobOutput(c, mode)
			}
			opts := masking.Options{Mask: c.String("mask"), MinLength: c.Int("min-length"), TokenPrefixes: c.StringSlice("token-prefix"), Detectors: agent.MaskDetectors(c.String("detectors"))}
			if err := opts.Validate(); err != nil {
				return usagef("mask: %v", err)
			}
			set := masking.NewSet(opts)
			secrets, err := maskSecrets(c)
			if err != nil {
				return err
			}
			if dir := agent.SessionDir(c.String("state-dir"), os.Getenv); dir != "" {
				s, err := agent.Resume(agent.Options{StateDir: dir, Log: io.Discard})
				if err != nil {
					return err
				}
				secrets = append(secrets, s.Secrets()...)
			}
			set.Add(secrets...)
			for _, warn := range set.Warnings() {
				fmt.Fprintln(c.App.ErrWriter, "chaperone: mask:", warn)
			}
			w := set.NewWriter(c.App.Writer, masking.WithAddMask(mode))
			// Large writes keep the masker fast; hiding the reader's
			// WriteTo stops os.File from forcing 32 KiB chunks.
			if _, err := io.CopyBuffer(w, struct{ io.Reader }{c.App.Reader}, make([]byte, 256<<10)); err != nil {
				_ = w.Close()
				return fmt.Errorf("mask: %w", err)
			}
			return w.Close()
		},
	}
}

// maskSecrets reads the secrets of --secrets-file and --secret-env.
func maskSecrets(c *cli.Context) ([]string, error) {
	var secrets []string
	if path := c.String("secrets-file"); path != "" {
		parsed, err := masking.ReadSecretsFile(path)
		if err != nil {
			return nil, usagef("mask: --secrets-file %s: %v", path, err)
		}
		secrets = append(secrets, parsed...)
	}
	for _, name := range c.StringSlice("secret-env") {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, usagef("mask: --secret-env %s: variable is not set", name)
		}
		secrets = append(secrets, v)
	}
	return secrets, nil
}

// maskJobOutput runs the masker that `start` in shell mode puts in front
// of the rest of the job's output: the session's masker (its config's
// token and detectors), with --secrets-file and --secret-env values added.
func maskJobOutput(c *cli.Context, mode masking.AddMaskMode) error {
	dir, err := stateDir(c)
	if err != nil {
		return err
	}
	s, err := agent.Resume(agent.Options{StateDir: dir, Log: c.App.ErrWriter, Version: version, Commit: commit})
	if err != nil {
		return err
	}
	secrets, err := maskSecrets(c)
	if err != nil {
		return err
	}
	s.Masks().Add(secrets...)
	return s.MaskJobOutput(c.App.Reader, c.App.Writer, c.App.ErrWriter, masking.WithAddMask(mode))
}

func addMaskMode(v string) (masking.AddMaskMode, error) {
	switch v {
	case "auto":
		if os.Getenv("GITHUB_ACTIONS") == "true" {
			return masking.AddMaskForward, nil
		}
		return masking.AddMaskRedact, nil
	case "forward":
		return masking.AddMaskForward, nil
	case "redact":
		return masking.AddMaskRedact, nil
	case "off":
		return masking.AddMaskOff, nil
	}
	return 0, usagef("mask: --add-mask %q is not one of auto, forward, redact, off", v)
}
