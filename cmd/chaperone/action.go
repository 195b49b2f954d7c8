package main

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
)

// actionCommand is the GitHub Action's entry points: action.yml runs
// `chaperone action main` in the action's container at its step and
// `chaperone action post` in the post step. Both take their inputs from
// the INPUT_* variables the runner sets, not from flags.
func actionCommand() *cli.Command {
	return &cli.Command{
		Name:  "action",
		Usage: "the GitHub Action's entry points (inputs from INPUT_*)",
		Subcommands: []*cli.Command{
			{
				Name:  "main",
				Usage: "obtain identity and grants, mask and export them, seal the session for post, install chaperone for later steps",
				Action: func(c *cli.Context) error {
					return agent.ActionMain(c.Context, actionOptions(c))
				},
			},
			{
				Name:  "post",
				Usage: "revoke, attest and store the session main sealed; write the job summary",
				Action: func(c *cli.Context) error {
					return agent.ActionPost(c.Context, actionOptions(c))
				},
			},
		},
	}
}

func actionOptions(c *cli.Context) agent.ActionOptions {
	exe, _ := os.Executable() // "" fails main's install with the reason
	return agent.ActionOptions{Stdout: c.App.Writer, Stderr: c.App.ErrWriter, Executable: exe, Version: version, Commit: commit}
}

// actionPostEntrypoint is action.yml's post-entrypoint: this binary under
// another name (the action image links it). The runner hands the post
// step the same args as main (`action main`), so the name decides.
const actionPostEntrypoint = "chaperone-action-post"

// actionEntrypointArgs turns the command line of the post entry point into
// `chaperone action post`; other command lines pass unchanged.
func actionEntrypointArgs(args []string) []string {
	if len(args) > 0 && filepath.Base(args[0]) == actionPostEntrypoint {
		return []string{args[0], "action", "post"}
	}
	return args
}
