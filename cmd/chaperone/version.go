package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and Go version",
		Flags: []cli.Flag{formatFlag("text", "text", "json")},
		Action: func(c *cli.Context) error {
			if c.String("format") == "json" {
				fmt.Fprintf(c.App.Writer, "{\"version\":%q,\"commit\":%q,\"go\":%q}\n", version, commit, runtime.Version())
				return nil
			}
			fmt.Fprintf(c.App.Writer, "chaperone %s (commit %s, %s)\n", version, orNone(commit), runtime.Version())
			return nil
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
