package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and Go version",
		Flags: []cli.Flag{formatFlag("text", "text", "json")},
		Action: func(c *cli.Context) error {
			printVersion(c.App.Writer, c.String("format"))
			return nil
		},
	}
}

// printVersion writes the version, commit and Go version, as JSON when
// format is "json" (for `version` and `--version`).
func printVersion(w io.Writer, format string) {
	if format == "json" {
		fmt.Fprintf(w, "{\"version\":%q,\"commit\":%q,\"go\":%q}\n", version, commit, runtime.Version())
		return
	}
	fmt.Fprintf(w, "chaperone %s (commit %s, %s)\n", version, orNone(commit), runtime.Version())
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
