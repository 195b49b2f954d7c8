package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/agent/provider"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "the platform owner's policy (check) and the issuers' trust configuration (render)",
		Subcommands: []*cli.Command{
			policyRenderCommand(),
			{
				Name:  "check",
				Usage: "say which of the config's scopes the policy allows for this job's identity (nothing is issued)",
				Flags: []cli.Flag{configFlag(), policyFlag(), formatFlag("text", "text", "json")},
				Action: func(c *cli.Context) error {
					format := c.String("format")
					if format != "text" && format != "json" {
						return usagef("policy check: --format %q is not one of text, json", format)
					}
					if c.String("policy") == "" {
						return usagef("policy check: no policy given (--policy or CHAPERONE_POLICY)")
					}
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					opts, err := sessionOptions(c, cfg)
					if err != nil {
						return err
					}
					s, err := agent.NewSession(opts)
					if err != nil {
						return err
					}
					verdicts, err := s.CheckPolicy(c.Context)
					if err != nil {
						return &agent.AgentError{Err: err}
					}
					failing := 0
					for _, v := range verdicts {
						if v.FailsRun() {
							failing++
						}
					}
					if format == "json" {
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						if err := enc.Encode(struct {
							Allowed bool                  `json:"allowed"`
							Scopes  []agent.PolicyVerdict `json:"scopes"`
						}{failing == 0, verdicts}); err != nil {
							return err
						}
					} else {
						tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						for _, v := range verdicts {
							verdict := "allowed"
							switch {
							case v.FailsRun():
								verdict = "refused (the run would fail)  " + v.Reason
							case !v.Allowed:
								verdict = "refused (optional: the run goes on without it)  " + v.Reason
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Scope, v.Provider, v.Principal, verdict)
						}
						if err := tw.Flush(); err != nil {
							return err
						}
					}
					if failing > 0 {
						return checkFailed{fmt.Errorf("policy check: %d of %d scopes refused; the run would fail", failing, len(verdicts))}
					}
					return nil
				},
			},
		},
	}
}

func policyRenderCommand() *cli.Command {
	return &cli.Command{
		Name:  "render",
		Usage: "write the issuer-side trust configuration (AWS role trust policy, GCP workload identity provider, Vault JWT role and ACL, octo-sts trust policy) for the config's scopes",
		Description: `Without --bind, the documents bind the immutable claims of the current
job's token, obtained as run obtains it (GitHub: repository_id,
repository_owner_id, job_workflow_ref; GitLab: project_id, namespace_id,
ref_protected), or of the token saved in --token-file. With --bind, they
bind the claims given, with a warning for each that names what can be
renamed. Notes on stderr say what a target cannot condition on and what
it binds instead.`,
		Flags: []cli.Flag{configFlag(),
			&cli.StringFlag{Name: "target", Usage: "aws, gcp, vault or octo-sts"},
			&cli.StringSliceFlag{Name: "bind", Usage: "CLAIM=VALUE a job's token must carry (repeatable), e.g. repository_id=123456; without it, the job's own token's immutable claims"},
			&cli.StringFlag{Name: "token-file", Usage: "bind the immutable claims of the job token saved in this file instead of the current job's"},
			&cli.StringFlag{Name: "platform", Value: "github", Usage: "with --bind: the CI whose tokens are bound, github or gitlab"},
			&cli.StringFlag{Name: "issuer", Usage: "with --bind: the tokens' issuer (default: the platform's hosted one)"},
			formatFlag("text", "text", "json"),
		},
		Action: func(c *cli.Context) error {
			format, platform := c.String("format"), c.String("platform")
			binds := c.StringSlice("bind")
			switch {
			case format != "text" && format != "json":
				return usagef("policy render: --format %q is not one of text, json", format)
			case platform != agent.PlatformGitHub && platform != agent.PlatformGitLab:
				return usagef("policy render: --platform %q is not github or gitlab", platform)
			case c.String("target") == "":
				return usagef("policy render: --target is required (aws, gcp, vault, octo-sts)")
			case len(binds) > 0 && c.String("token-file") != "":
				return usagef("policy render: --bind and --token-file are exclusive (--token-file binds the token's own claims)")
			case len(binds) == 0 && (c.IsSet("platform") || c.IsSet("issuer")):
				return usagef("policy render: --platform and --issuer go with --bind (without it, the job's token names both)")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			var b provider.Binding
			var notes []string
			if len(binds) == 0 {
				opts, err := sessionOptions(c, cfg)
				if err != nil {
					return err
				}
				s, err := agent.NewSession(opts)
				if err != nil {
					return err
				}
				if b, err = s.JobBinding(c.Context, c.String("target"), c.String("token-file")); err != nil {
					return err
				}
				notes = agent.JobBindingNotes(b)
			} else {
				b = provider.Binding{Platform: platform, Issuer: c.String("issuer"), Claims: map[string]string{}}
				if b.Issuer == "" {
					b.Issuer = agent.DefaultIssuer(platform)
				}
				for _, kv := range binds {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" || v == "" {
						return usagef("policy render: --bind %q is not CLAIM=VALUE", kv)
					}
					b.Claims[k] = v
				}
				notes = agent.BindingWarnings(b)
			}
			rendered, err := agent.RenderTrust(cfg, c.String("target"), b)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", n)
			}
			for _, r := range rendered {
				for _, n := range r.Notes {
					fmt.Fprintf(c.App.ErrWriter, "note: scope %s: %s\n", r.Scope, n)
				}
			}
			if format == "json" {
				type document struct {
					Name      string `json:"name"`
					MediaType string `json:"mediaType"`
					Content   string `json:"content"`
				}
				type scope struct {
					Scope     string     `json:"scope"`
					Target    string     `json:"target"`
					Documents []document `json:"documents"`
					Notes     []string   `json:"notes,omitempty"`
				}
				var out []scope
				for _, r := range rendered {
					sc := scope{Scope: r.Scope, Target: r.Target, Notes: r.Notes}
					for _, d := range r.Documents {
						sc.Documents = append(sc.Documents, document{d.Name, d.MediaType, string(d.Content)})
					}
					out = append(out, sc)
				}
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			for _, r := range rendered {
				for _, d := range r.Documents {
					fmt.Fprintf(c.App.Writer, "# scope %s: %s\n%s\n", r.Scope, d.Name, d.Content)
				}
			}
			return nil
		},
	}
}
