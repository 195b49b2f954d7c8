package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/oci"
	"github.com/chaperone-ci/chaperone/attest/verify"
	"github.com/chaperone-ci/chaperone/internal/regularfile"
	// KMS key references (--key awskms://…), and the KMS signers the agent
	// builds through sign.NewSigner.
	_ "github.com/chaperone-ci/chaperone/attest/kmsproviders"
)

// signerFlags name who must have signed a bundle: a key, or a keyless
// identity with a trusted root (verify, report).
func signerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", EnvVars: []string{"CHAPERONE_VERIFY_KEY"}, Usage: "PEM public key file, or KMS key URI (awskms://…, gcpkms://…, azurekms://…, hashivault://…), that must have signed"},
		&cli.StringFlag{Name: "certificate-identity", Usage: "keyless: exact signer identity (certificate SAN)"},
		&cli.StringFlag{Name: "certificate-identity-regexp", Usage: "keyless: signer identity regexp"},
		&cli.StringFlag{Name: "certificate-oidc-issuer", Usage: "keyless: exact OIDC issuer of the signer's token"},
		&cli.StringFlag{Name: "certificate-oidc-issuer-regexp", Usage: "keyless: OIDC issuer regexp"},
		&cli.StringFlag{Name: "trusted-root", EnvVars: []string{"CHAPERONE_TRUSTED_ROOT"}, Usage: "Sigstore trusted root JSON (Fulcio CA, TSA); required for keyless, optional with --key (then a TSA timestamp is required)"},
		&cli.BoolFlag{Name: "require-tlog", Usage: "keyless: require a transparency log (Rekor) entry instead of a TSA timestamp (public Sigstore bundles)"},
		&cli.BoolFlag{Name: "require-sct", Usage: "keyless: require a signed certificate timestamp from a CT log of the trusted root"},
	}
}

// checkSigner checks that signerFlags name exactly one signer.
func checkSigner(c *cli.Context) error {
	keyless := c.IsSet("certificate-identity") || c.IsSet("certificate-identity-regexp") ||
		c.IsSet("certificate-oidc-issuer") || c.IsSet("certificate-oidc-issuer-regexp")
	switch {
	case c.String("key") != "" && keyless:
		return usagef("%s: give either --key or a keyless identity (--certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]), not both", c.Command.Name)
	case c.String("key") == "" && !keyless:
		return usagef("%s: no signer given: --key, or a keyless --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp] and --trusted-root", c.Command.Name)
	}
	return nil
}

// signerOptions sets opts' signer from signerFlags.
func signerOptions(c *cli.Context, opts *verify.Options) error {
	opts.CertificateIdentity = c.String("certificate-identity")
	opts.CertificateIdentityRegexp = c.String("certificate-identity-regexp")
	opts.CertificateOIDCIssuer = c.String("certificate-oidc-issuer")
	opts.CertificateOIDCIssuerRegexp = c.String("certificate-oidc-issuer-regexp")
	opts.TransparencyLog = c.Bool("require-tlog")
	opts.SignedCertificateTimestamp = c.Bool("require-sct")
	if err := checkSigner(c); err != nil {
		return err
	}
	if ref := c.String("key"); ref != "" {
		pub, err := verify.LoadKey(c.Context, ref)
		if err != nil {
			return usagef("%s: --key: %v", c.Command.Name, err)
		}
		opts.PublicKeyPEM = pub
	}
	if path := c.String("trusted-root"); path != "" {
		tr, err := verify.LoadTrustedRoot(path)
		if err != nil {
			return usagef("%s: --trusted-root: %v", c.Command.Name, err)
		}
		opts.TrustedRootJSON = tr
	}
	return nil
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "verify attestation bundles: signature, signer, timestamp, predicate type, subject, and policy",
		Description: `Verifies each BUNDLE file (all must pass), or with --oci the bundles attached
to an image in its registry (one must pass); with --oci-repository (or
CHAPERONE_OCI_REPOSITORY, or COSIGN_REPOSITORY as cosign reads it) they are
looked up in that shared attestation repository, by the image's digest or,
without --oci, by --digest. The signer is a public key (--key
FILE, or a KMS key URI), or a keyless identity: --certificate-identity[-regexp]
and --certificate-oidc-issuer[-regexp] with --trusted-root. Keyless bundles must
carry an RFC 3161 timestamp from a TSA of the trusted root (or, with
--require-tlog, a transparency log entry). Regexps are unanchored, as in
cosign: write ^…$. Exit status: 0 verified, 1 a check failed, 2 usage error.`,
		ArgsUsage: "BUNDLE...",
		Flags: append(signerFlags(),
			&cli.StringFlag{Name: "artifact", Usage: "file the attestation must name as a subject"},
			&cli.StringFlag{Name: "digest", Usage: "subject digest the attestation must name, ALG:HEX (e.g. sha256:…; the job subject is printed by run/stop)"},
			&cli.StringFlag{Name: "oci", Usage: "verify the bundles attached to this image (REPO@sha256:… or REPO:TAG) in its registry; the subject is the image digest"},
			&cli.StringFlag{Name: "oci-repository", EnvVars: []string{"CHAPERONE_OCI_REPOSITORY", "COSIGN_REPOSITORY"}, Usage: "look the bundles of --oci IMAGE (or, without BUNDLE files, of --digest) up in this REGISTRY/REPO, where attest.oci: REGISTRY/REPO stores them, instead of the image's own repository"},
			&cli.StringFlag{Name: "type", Value: attest.PredicateTypeJob, Usage: "predicate type the statement must carry"},
			&cli.BoolFlag{Name: "require-revoked", Usage: "policy: every revocable grant was revoked"},
			&cli.DurationFlag{Name: "max-grant-ttl", Usage: "policy: longest lifetime a grant may have been issued for (e.g. 15m)"},
			&cli.StringSliceFlag{Name: "allow-scope", Usage: "policy: a scope grants may have (repeat for several)"},
			&cli.StringSliceFlag{Name: "allow-provider", Usage: "policy: a provider grants may come from (repeat for several)"},
			&cli.StringFlag{Name: "require-outcome", Usage: "policy: the job outcome the attestation must record (success, failure, agent-error)"},
			&cli.StringFlag{Name: "policy", Usage: "policy: the platform owner's policy file (as for run --policy): every grant must be one it allows for the attested identity"},
			formatFlag("text", "text", "json"),
		),
		Action: runVerify,
	}
}

// verifyOutcome is one verified bundle, as printed.
type verifyOutcome struct {
	Bundle   string `json:"bundle"`
	Referrer string `json:"referrer,omitempty"`
	*verify.Result
	Error string `json:"error,omitempty"`
}

func runVerify(c *cli.Context) error {
	image := c.String("oci")
	// The repository may come from the environment (COSIGN_REPOSITORY):
	// it only matters when bundles are looked up in a registry.
	repository := ""
	if c.NArg() == 0 {
		repository = c.String("oci-repository")
	}
	switch {
	case image == "" && c.NArg() == 0 && repository == "":
		return usagef("verify: no BUNDLE given: want exactly one BUNDLE file, several, or --oci IMAGE")
	case image != "" && c.NArg() > 0:
		return usagef("verify: give BUNDLE files or --oci IMAGE, not both")
	}
	if repository != "" {
		if _, err := oci.ParseRepository(repository); err != nil {
			return usagef("verify: --oci-repository: %v", err)
		}
	}
	if err := checkSigner(c); err != nil {
		return err
	}
	switch {
	case image != "" && (c.IsSet("artifact") || c.IsSet("digest")):
		return usagef("verify: with --oci the subject is the image's digest; drop --artifact/--digest")
	case image == "" && c.NArg() == 0 && !c.IsSet("digest"):
		return usagef("verify: with --oci-repository and no --oci IMAGE, give the subject's --digest (e.g. the job subject printed by run/stop)")
	case image == "" && c.IsSet("artifact") == c.IsSet("digest"):
		return usagef("verify: set exactly one of --artifact and --digest")
	}
	if format := c.String("format"); format != "text" && format != "json" {
		return usagef("verify: --format %q is not one of text, json", format)
	}
	opts, closeArtifact, err := verifyOptions(c)
	if err != nil {
		return err
	}
	defer closeArtifact()

	var outcomes []verifyOutcome
	if image != "" || repository != "" {
		outcomes, err = verifyImage(c.Context, image, repository, opts)
		if err != nil {
			return err
		}
		if image == "" {
			image = opts.ArtifactDigest.String()
		}
	} else {
		v, err := verify.NewVerifier(opts)
		if err != nil {
			return usagef("%v", err)
		}
		for _, path := range c.Args().Slice() {
			data, err := attest.ReadBundleFile(path)
			if err != nil {
				return usagef("verify: %v", err)
			}
			outcomes = append(outcomes, outcome(path, "", v, data))
		}
	}
	return reportVerify(c, image, outcomes)
}

// verifyOptions turns the flags into verify.Options. The returned
// function closes the --artifact file.
func verifyOptions(c *cli.Context) (verify.Options, func(), error) {
	noop := func() {}
	opts := verify.Options{
		PredicateType: c.String("type"),
		Policy: verify.Policy{
			RequireRevoked: c.Bool("require-revoked"),
			MaxGrantTTL:    c.Duration("max-grant-ttl"),
			AllowScopes:    c.StringSlice("allow-scope"),
			AllowProviders: c.StringSlice("allow-provider"),
			RequireOutcome: c.String("require-outcome"),
		},
	}
	if c.IsSet("max-grant-ttl") && opts.Policy.MaxGrantTTL <= 0 {
		return opts, noop, usagef("verify: --max-grant-ttl must be positive")
	}
	if src := c.String("policy"); src != "" {
		owner, err := agent.LoadPolicy(src)
		if err != nil {
			return opts, noop, err
		}
		opts.Policy.OwnerPolicy = owner.GrantRefusal
	}
	if err := signerOptions(c, &opts); err != nil {
		return opts, noop, err
	}
	switch {
	case c.String("artifact") != "":
		f, err := regularfile.Open(c.String("artifact"))
		if err != nil {
			return opts, noop, usagef("verify: --artifact: %v", err)
		}
		opts.Artifact = f
		return opts, func() { f.Close() }, nil
	case c.String("digest") != "":
		d, err := attest.ParseDigest(c.String("digest"))
		if err != nil {
			return opts, noop, usagef("verify: --digest: %v", err)
		}
		opts.ArtifactDigest = &d
	}
	return opts, noop, nil
}

// verifyImage fetches the bundles attached to an image (in its own
// repository, or in repository when set) and verifies each against the
// image digest; with no image, it fetches those of opts.ArtifactDigest
// in repository.
func verifyImage(ctx context.Context, image, repository string, opts verify.Options) ([]verifyOutcome, error) {
	var ociOpts []oci.Option
	where := ""
	if repository != "" {
		ociOpts = append(ociOpts, oci.WithRepository(repository))
		where = " in " + repository
	}
	var subject attest.Subject
	var atts []oci.Attestation
	var err error
	what := "--oci " + image
	if image != "" {
		subject, atts, err = oci.Fetch(ctx, image, ociOpts...)
	} else {
		what = "--digest " + opts.ArtifactDigest.String()
		subject.Name = repository
		subject.Digest = map[string]string{opts.ArtifactDigest.Algorithm: opts.ArtifactDigest.Hex}
		atts, err = oci.FetchDigest(ctx, opts.ArtifactDigest.String(), ociOpts...)
	}
	if err != nil {
		return nil, checkFailed{fmt.Errorf("verify %s: %w", what, err)}
	}
	d := attest.Digest{Algorithm: "sha256", Hex: subject.Digest["sha256"]}
	opts.ArtifactDigest = &d
	v, err := verify.NewVerifier(opts)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(atts) == 0 {
		return nil, checkFailed{fmt.Errorf("verify %s: no Sigstore bundle is attached to %s@%s%s", what, subject.Name, d, where)}
	}
	var out []verifyOutcome
	for _, a := range atts {
		out = append(out, outcome(subject.Name+"@"+d.String(), a.Referrer, v, a.Bundle))
	}
	return out, nil
}

func outcome(name, referrer string, v *verify.Verifier, data []byte) verifyOutcome {
	res, err := v.Verify(data)
	o := verifyOutcome{Bundle: name, Referrer: referrer, Result: res}
	if err != nil {
		o.Error = err.Error()
	}
	return o
}

// reportVerify prints the outcomes and decides the exit status: every
// bundle file must verify; of an image's bundles, one must.
func reportVerify(c *cli.Context, image string, outcomes []verifyOutcome) error {
	passed, failed := 0, []string{}
	for _, o := range outcomes {
		if o.Error == "" {
			passed++
		} else {
			where := o.Bundle
			if o.Referrer != "" {
				where = o.Referrer
			}
			failed = append(failed, where+": "+o.Error)
		}
	}
	ok := len(failed) == 0
	if image != "" {
		ok = passed > 0
	}
	if c.String("format") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		var v any = outcomes[0]
		if len(outcomes) > 1 || image != "" {
			v = struct {
				Verified bool            `json:"verified"`
				Image    string          `json:"image,omitempty"`
				Results  []verifyOutcome `json:"results"`
			}{ok, image, outcomes}
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		for _, o := range outcomes {
			if len(outcomes) > 1 || o.Referrer != "" {
				name := o.Bundle
				if o.Referrer != "" {
					name = o.Referrer
				}
				fmt.Fprintf(c.App.ErrWriter, "%s:\n", name)
			}
			if o.Result != nil {
				for _, ch := range o.Checks {
					fmt.Fprintf(c.App.ErrWriter, "  %-16s %s %s\n", ch.Name, ch.Verdict, ch.Detail)
				}
			}
			if o.Error == "" {
				fmt.Fprintf(c.App.Writer, "Verified OK: %s\n", o.Bundle)
			}
		}
	}
	if ok {
		return nil
	}
	if image != "" {
		return checkFailed{fmt.Errorf("verify %s: none of the %d attached bundle(s) verified: %s", image, len(outcomes), failed[0])}
	}
	if len(outcomes) == 1 {
		return checkFailed{fmt.Errorf("verify %s", failed[0])}
	}
	return checkFailed{errors.New("verify: " + fmt.Sprintf("%d of %d bundles failed; first: %s", len(failed), len(outcomes), failed[0]))}
}
