package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/internal/scan"
)

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "find the static credentials a repository's CI uses, which short-lived ones should replace (exit 1 if any)",
		ArgsUsage: "[PATH]",
		Flags:     []cli.Flag{formatFlag("text", "text", "json", "sarif")},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" && format != "sarif" {
				return usagef("scan: --format %q is not one of text, json, sarif", format)
			}
			if c.NArg() > 1 {
				return usagef("scan: want at most one PATH, got %d", c.NArg())
			}
			root := c.Args().First()
			if root == "" {
				root = "."
			}
			res, err := scan.Dir(root, scan.Options{})
			if err != nil {
				return usagef("scan: %v", err)
			}
			findings := res.Findings
			if n := len(res.Skipped); n > 0 {
				fmt.Fprintf(c.App.ErrWriter, "chaperone: scan: %d unreadable, not scanned; first: %s\n", n, strconv.QuoteToGraphic(res.Skipped[0]))
			}
			switch format {
			case "json":
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if findings == nil {
					findings = []scan.Finding{}
				}
				if err := enc.Encode(findings); err != nil {
					return err
				}
			case "sarif":
				data, err := scan.SARIF(findings, version)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\n", data)
			default:
				for _, f := range findings {
					fmt.Fprintln(c.App.Writer, f)
				}
			}
			if len(findings) > 0 {
				return checkFailed{fmt.Errorf("scan: %d finding(s) in %s", len(findings), root)}
			}
			return nil
		},
	}
}
