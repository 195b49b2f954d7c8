package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/chaperone-ci/chaperone/agent"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(nil, nil, nil)
	cases := []struct{ in, want []string }{
		{[]string{"c", "verify", "b.json", "--key", "k.pub"}, []string{"c", "verify", "--key", "k.pub", "--", "b.json"}},
		{[]string{"c", "verify", "--key=k.pub", "b.json", "--digest", "sha256:ab"}, []string{"c", "verify", "--key=k.pub", "--digest", "sha256:ab", "--", "b.json"}},
		{[]string{"c", "run", "--config", "x.yml", "--", "sh", "-c", "echo --key"}, []string{"c", "run", "--config", "x.yml", "--", "sh", "-c", "echo --key"}},
		{[]string{"c", "mask", "--token-prefix", "p_", "--secret-env", "A"}, []string{"c", "mask", "--token-prefix", "p_", "--secret-env", "A"}},
		{[]string{"c", "nosuch", "a", "--b"}, []string{"c", "nosuch", "a", "--b"}},
		// run: everything from the first positional on is the wrapped
		// command's argv, with or without "--".
		{[]string{"c", "run", "sh", "-c", "echo hi"}, []string{"c", "run", "--", "sh", "-c", "echo hi"}},
		{[]string{"c", "run", "ls", "-la"}, []string{"c", "run", "--", "ls", "-la"}},
		{[]string{"c", "run", "--config", "F", "--state-dir", "D", "sh", "-c", "x"}, []string{"c", "run", "--config", "F", "--state-dir", "D", "--", "sh", "-c", "x"}},
		{[]string{"c", "run", "-c", "F", "--format=json", "env", "--", "x"}, []string{"c", "run", "-c", "F", "--format=json", "--", "env", "--", "x"}},
		{[]string{"c", "run", "--", "sh", "-c", "x"}, []string{"c", "run", "--", "sh", "-c", "x"}},
		// gitlab run's SCRIPT and STAGE are plain arguments: its flags
		// may still follow them.
		{[]string{"c", "gitlab", "run", "s.sh", "build_script", "--state-dir", "D"}, []string{"c", "gitlab", "run", "--state-dir", "D", "--", "s.sh", "build_script"}},
	}
	for _, tc := range cases {
		if got := reorderArgs(app, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"chaperone", "version"}, 0, ""},
		{[]string{"chaperone", "run"}, 2, "no command given"},
		{[]string{"chaperone", "run", "--nope", "--", "true"}, 2, "nope"},
		{[]string{"chaperone", "verify"}, 2, "exactly one BUNDLE"},
		{[]string{"chaperone", "verify", "b.json", "--key", "k", "--certificate-identity", "x"}, 2, "keyless"},
		{[]string{"chaperone", "run", "--config", "/nonexistent/c.yml", "--", "true"}, 2, "file not found"},
		{[]string{"chaperone", "start", "--shell", "fish"}, 2, "--shell"},
		{[]string{"chaperone", "devstack", "--platform", "jenkins"}, 2, "--platform"},
		// The wrapped command's flags are not chaperone's: the config read
		// is the default one, not "-c"'s argument, and -la is not refused.
		{[]string{"chaperone", "run", "sh", "-c", "echo hi"}, 2, "config " + agent.DefaultConfigPath + ": file not found"},
		{[]string{"chaperone", "run", "ls", "-la"}, 2, "config " + agent.DefaultConfigPath + ": file not found"},
		{[]string{"chaperone", "nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"chaperone", "gitlab", "nosuch"}, 2, `unknown command "gitlab nosuch"`},
		{[]string{"chaperone", "help", "nosuch"}, 2, "nosuch"},
	}
	// The default config is looked up in the working directory.
	t.Chdir(t.TempDir())
	t.Setenv("CHAPERONE_CONFIG", "")
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errb)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		if tc.want != "" {
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("%q: stderr %q, want one line mentioning %q", tc.args, errb.String(), tc.want)
			}
		}
	}
}

func TestMaskCommandStreams(t *testing.T) {
	t.Setenv("E2E_SECRET", "s3cr3t-value")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"chaperone", "mask", "--secret-env", "E2E_SECRET", "--mask", "[MASKED]"},
		strings.NewReader("a s3cr3t-value b\ns3cr3t-values3cr3t-value\n"), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := out.String(); got != "a [MASKED] b\n[MASKED]\n" {
		t.Errorf("mask output %q", got)
	}
}

func TestMaskCommandAddMaskAndPrefixes(t *testing.T) {
	t.Setenv("GITHUB_ACTIONS", "")
	in := "before hunter2x\n::add-mask::hunter2x\nafter hunter2x\ntok acme_0123456789abcdef\n"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"chaperone", "mask", "--token-prefix", "acme_"}, strings.NewReader(in), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// The value printed before the command stays (nothing knew it yet); the
	// command line and everything after are masked.
	want := "before hunter2x\n::add-mask::***\nafter ***\ntok acme_***\n"
	if out.String() != want {
		t.Errorf("mask output %q, want %q", out.String(), want)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"chaperone", "mask", "--token-prefix", "p"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Errorf("a one-byte token prefix: exit %d, want 2 (%s)", code, errb.String())
	}
	if code := run(context.Background(), []string{"chaperone", "mask", "--add-mask", "sometimes"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Errorf("--add-mask sometimes: exit %d, want 2", code)
	}
}

func TestVersionFlagPrintsVersion(t *testing.T) {
	var want, wantErr bytes.Buffer
	if code := run(context.Background(), []string{"chaperone", "version"}, strings.NewReader(""), &want, &wantErr); code != 0 {
		t.Fatalf("version: exit %d: %s", code, wantErr.String())
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"chaperone", "--version"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("--version: exit %d: %s", code, errb.String())
	}
	if out.String() != want.String() || want.Len() == 0 {
		t.Errorf("--version printed %q, version prints %q", out.String(), want.String())
	}
}
