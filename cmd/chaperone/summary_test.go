package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
)

// TestPrintSummaryDestinations: the JSON summary goes where the caller
// says (never the job's stdout for run), or whole to --summary-file
// instead; the text summary always goes to stderr.
func TestPrintSummaryDestinations(t *testing.T) {
	sum := &agent.Summary{Outcome: "success", BundlePath: "chaperone.sigstore.json", Redactions: 2}
	file := filepath.Join(t.TempDir(), "summary.json")
	cases := []struct {
		name               string
		args               []string
		jsonOut            bool // JSON on the writer given
		textOnStderr, file bool
	}{
		{"json", []string{"--format", "json"}, true, false, false},
		{"json to a file", []string{"--format", "json", "--summary-file", file}, false, false, true},
		{"text", nil, false, true, false},
		{"text and a file", []string{"--summary-file", file}, false, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(file)
			var stdout, stderr, jsonOut bytes.Buffer
			app := &cli.App{Writer: &stdout, ErrWriter: &stderr, Commands: []*cli.Command{{
				Name:   "end",
				Flags:  []cli.Flag{formatFlag("text", "text", "json"), summaryFileFlag()},
				Action: func(c *cli.Context) error { return printSummary(c, sum, &jsonOut) },
			}}}
			if err := app.Run(append([]string{"chaperone", "end"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			isJSON := func(b []byte) bool {
				var v struct{ Outcome string }
				return json.Unmarshal(b, &v) == nil && v.Outcome == "success"
			}
			if got := isJSON(jsonOut.Bytes()); got != tc.jsonOut {
				t.Errorf("JSON on the given writer: %v, want %v (%q)", got, tc.jsonOut, jsonOut.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if got := strings.Contains(stderr.String(), "chaperone: outcome success, 2 redactions"); got != tc.textOnStderr {
				t.Errorf("text summary on stderr: %v, want %v (%q)", got, tc.textOnStderr, stderr.String())
			}
			data, err := os.ReadFile(file)
			if tc.file != (err == nil && isJSON(data)) {
				t.Errorf("summary file: %v %q, want JSON: %v", err, data, tc.file)
			}
		})
	}
	// A summary file that cannot be written is an error.
	app := &cli.App{Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}, Commands: []*cli.Command{{
		Name:   "end",
		Flags:  []cli.Flag{formatFlag("text", "text", "json"), summaryFileFlag()},
		Action: func(c *cli.Context) error { return printSummary(c, sum, &bytes.Buffer{}) },
	}}}
	if err := app.Run([]string{"chaperone", "end", "--summary-file", filepath.Join(t.TempDir(), "no", "such", "dir", "s.json")}); err == nil || !strings.Contains(err.Error(), "--summary-file") {
		t.Errorf("unwritable summary file: %v", err)
	}
}
