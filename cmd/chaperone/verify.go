package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/attest"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify an attestation bundle: signature, signer, predicate type, subject",
		ArgsUsage: "BUNDLE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", EnvVars: []string{"CHAPERONE_VERIFY_KEY"}, Usage: "PEM public key that must have signed the bundle"},
			&cli.StringFlag{Name: "artifact", Usage: "file the attestation must name as a subject"},
			&cli.StringFlag{Name: "digest", Usage: "subject digest the attestation must name, ALG:HEX (e.g. sha256:…; the job subject is printed by run/stop)"},
			&cli.StringFlag{Name: "type", Value: attest.PredicateTypeJob, Usage: "predicate type the statement must carry"},
			&cli.StringFlag{Name: "certificate-identity", Usage: "keyless: exact signer identity (SAN)"},
			&cli.StringFlag{Name: "certificate-identity-regexp", Usage: "keyless: signer identity regexp"},
			&cli.StringFlag{Name: "certificate-oidc-issuer", Usage: "keyless: exact OIDC issuer"},
			&cli.StringFlag{Name: "certificate-oidc-issuer-regexp", Usage: "keyless: OIDC issuer regexp"},
			&cli.StringFlag{Name: "trusted-root", Usage: "keyless: trusted root JSON"},
			formatFlag("text", "text", "json"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("verify: want exactly one BUNDLE argument, got %d", c.NArg())
			}
			for _, f := range []string{"certificate-identity", "certificate-identity-regexp", "certificate-oidc-issuer", "certificate-oidc-issuer-regexp", "trusted-root"} {
				if c.IsSet(f) {
					return usagef("verify: --%s: keyless verification is not supported by this version; use --key", f)
				}
			}
			if c.String("key") == "" {
				return usagef("verify: --key is required")
			}
			if c.IsSet("artifact") == c.IsSet("digest") {
				return usagef("verify: set exactly one of --artifact and --digest")
			}
			pub, err := attest.LoadPublicKey(c.String("key"))
			if err != nil {
				return usagef("verify: --key: %v", err)
			}
			opts := attest.VerifyOptions{PublicKeyPEM: pub, PredicateType: c.String("type")}
			if path := c.String("artifact"); path != "" {
				f, err := os.Open(path)
				if err != nil {
					return usagef("verify: --artifact: %v", err)
				}
				defer f.Close()
				opts.Artifact = f
			} else {
				d, err := attest.ParseDigest(c.String("digest"))
				if err != nil {
					return usagef("verify: --digest: %v", err)
				}
				opts.ArtifactDigest = &d
			}
			bundlePath := c.Args().First()
			data, err := attest.ReadBundleFile(bundlePath)
			if err != nil {
				return usagef("verify: %v", err)
			}
			res, err := attest.Verify(data, opts)
			var verr *attest.VerificationError
			if err != nil && !errors.As(err, &verr) {
				return usagef("verify: %v", err)
			}
			if c.String("format") == "json" {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if encErr := enc.Encode(res); encErr != nil {
					return encErr
				}
			} else if res != nil {
				for _, ch := range res.Checks {
					fmt.Fprintf(c.App.ErrWriter, "  %-14s %s %s\n", ch.Name, ch.Verdict, ch.Detail)
				}
			}
			if err != nil {
				return checkFailed{fmt.Errorf("verify %s: %w", bundlePath, err)}
			}
			if c.String("format") != "json" {
				fmt.Fprintf(c.App.Writer, "Verified OK: %s\n", bundlePath)
			}
			return nil
		},
	}
}
