package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves a subcommand's flags ahead of its positional arguments,
// so `verify B --key K` parses like `verify --key K B` (urfave/cli/v2 stops
// at the first positional). Everything after "--" is left as it is, and so
// is everything from the first positional argument of a command that wraps
// another (run): that is the wrapped command's own argv, so `run sh -c x`
// means `run -- sh -c x`.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	// Descend into subcommands (e.g. "gitlab prepare").
	head := []string{args[0], args[1]}
	rest := args[2:]
	for len(rest) > 0 && len(cmd.Subcommands) > 0 {
		sub := cmd.Command(rest[0])
		if sub == nil {
			break
		}
		head = append(head, rest[0])
		cmd, rest = sub, rest[1:]
	}
	var flags, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if wrapsCommand(app, cmd) {
				positional = append(positional, rest[i:]...)
				break
			}
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if !strings.Contains(a, "=") && takesValue(cmd, strings.TrimLeft(a, "-")) && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append(head, flags...)
	if len(positional) > 0 && positional[0] != "--" {
		// Keep positionals from being read as flags after reordering.
		out = append(out, "--")
	}
	return append(out, positional...)
}

// wrapsCommand reports whether cmd runs a command given as its positional
// arguments, whose own flags must not be read as cmd's: `chaperone run`
// (not `gitlab run`, whose SCRIPT and STAGE are plain arguments).
func wrapsCommand(app *cli.App, cmd *cli.Command) bool { return cmd == app.Command("run") }

func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, ok := f.(*cli.BoolFlag); ok {
				return false
			}
			return true
		}
	}
	if name == "help" || name == "h" {
		return false
	}
	return false
}

// isFlagError reports errors the flag parser produces for bad input.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag", "invalid boolean"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	var ue usageError
	return errors.As(err, &ue)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
