package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "the platform owner's policy",
		Subcommands: []*cli.Command{
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
					refused := 0
					for _, v := range verdicts {
						if !v.Allowed {
							refused++
						}
					}
					if format == "json" {
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						if err := enc.Encode(struct {
							Allowed bool                  `json:"allowed"`
							Scopes  []agent.PolicyVerdict `json:"scopes"`
						}{refused == 0, verdicts}); err != nil {
							return err
						}
					} else {
						tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
						for _, v := range verdicts {
							verdict := "allowed"
							if !v.Allowed {
								verdict = "refused  " + v.Reason
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Scope, v.Provider, v.Principal, verdict)
						}
						if err := tw.Flush(); err != nil {
							return err
						}
					}
					if refused > 0 {
						return checkFailed{fmt.Errorf("policy check: %d of %d scopes refused", refused, len(verdicts))}
					}
					return nil
				},
			},
		},
	}
}
