package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Fake credentials of the real shapes, assembled so that this file holds
// none whole.
var (
	awsKeyID    = "AKIA" + "IOSFODNN7EXAMPLE"
	githubToken = "ghp_" + strings.Repeat("aB3dE6gH9j", 3) + "K1mN2p"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func exampleTree(t *testing.T) string {
	return writeTree(t, map[string]string{
		".github/workflows/deploy.yml": `on: push
jobs:
  deploy:
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
          aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
      - run: ./deploy.sh
        env:
          GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          # ${{ secrets.VAULT_TOKEN }} in a comment is not a use
          DEPLOY_PAT: ${{ secrets.DEPLOY_PAT }}
`,
		".gitlab-ci.yml":          "deploy:\n  script:\n    - vault kv get -address=$VAULT_ADDR secret/app  # $CI_JOB_TOKEN is the CI's\n    - VAULT_TOKEN=$VAULT_TOKEN ./deploy.sh\n",
		"deploy.sh":               "#!/bin/sh\nexport AWS_ACCESS_KEY_ID=" + awsKeyID + "\n",
		"config/app.env":          "TOKEN=" + githubToken + "\nDOC=tokens look like ghp_…\n",
		"keys/id.pem":             "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n",
		"fixture.txt":             "token " + githubToken + " # " + Allow + "\n",
		"node_modules/x/token.js": "const t = '" + githubToken + "'\n",
		"logo.bin":                "\x00\x01" + githubToken,
	})
}

func TestDirFindings(t *testing.T) {
	res, err := Dir(exampleTree(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	findings := res.Findings
	var got []string
	for _, f := range findings {
		got = append(got, fmt.Sprintf("%s:%d:%d %s %s", f.Path, f.Line, f.Column, f.Rule, f.Provider))
		for _, secret := range []string{awsKeyID, githubToken} {
			if strings.Contains(f.Message, secret) {
				t.Errorf("%s: the message holds the credential", f.Path)
			}
		}
	}
	want := []string{
		".github/workflows/deploy.yml:3:3 credentials-without-timeout ",
		".github/workflows/deploy.yml:7:11 static-key-input aws",
		".github/workflows/deploy.yml:7:30 long-lived-secret aws",
		".github/workflows/deploy.yml:8:11 static-key-input aws",
		".github/workflows/deploy.yml:8:34 long-lived-secret aws",
		".github/workflows/deploy.yml:13:23 long-lived-secret github",
		".gitlab-ci.yml:4:19 long-lived-secret vault",
		"config/app.env:1:7 static-credential ",
		"deploy.sh:2:26 static-credential ",
		"keys/id.pem:1:1 static-credential ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f := findings[7]; !strings.Contains(f.Message, "github-token") {
		t.Errorf("the credential's detector is not named: %q", f.Message)
	}
}

func TestSARIFValidates(t *testing.T) {
	root := exampleTree(t)
	// A file name that needs escaping in a URI.
	if err := os.WriteFile(filepath.Join(root, "sp ace%.env"), []byte("T="+githubToken+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Dir(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	findings := res.Findings
	data, err := SARIF(findings, "test")
	if err != nil {
		t.Fatal(err)
	}
	compiler := jsonschema.NewCompiler()
	schema, err := compiler.Compile("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("SARIF does not validate: %v", err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil || len(log.Runs) != 1 || len(log.Runs[0].Results) != len(findings) {
		t.Fatalf("%v: %+v", err, log)
	}
	// A document that breaks the schema is caught: the check can fail.
	broken := bytes.Replace(data, []byte(`"version": "2.1.0"`), []byte(`"version": "2.0"`), 1)
	doc, _ = jsonschema.UnmarshalJSON(bytes.NewReader(broken))
	if schema.Validate(doc) == nil {
		t.Error("a SARIF log of version 2.0 validated")
	}
}

func TestDirWithoutFindings(t *testing.T) {
	res, err := Dir(writeTree(t, map[string]string{
		"README.md": "Use ghp_ tokens sparingly.\n",
		"main.go":   "package main\n\nconst header = \"-----BEGIN RSA PRIVATE KEY-----\"\n",
		".gitlab-ci.yml": "x:\n  script:\n    - git clone https://oauth2:${CI_JOB_TOKEN}@gitlab.com/g/p.git\n" +
			"    - echo $$VAULT_TOKEN is literal  # and $NPM_TOKEN in a comment\n",
	}), Options{})
	if err != nil || len(res.Findings) != 0 {
		t.Errorf("%v %+v", err, res.Findings)
	}
}

// Findings in one file given as the root, through a symlink, in a CRLF
// file, and columns counted in characters.
func TestDirRootsAndColumns(t *testing.T) {
	root := writeTree(t, map[string]string{
		".github/workflows/ci.yml": "env:\r\n  X: ${{ secrets.GH_TOKEN }}\r\n",
		"notes.txt":                "# Ключ: " + githubToken + "\r\n",
	})
	res, err := Dir(filepath.Join(root, ".github", "workflows", "ci.yml"), Options{})
	if err != nil || len(res.Findings) != 1 || res.Findings[0].Provider != "github" {
		t.Fatalf("one workflow file: %v %+v", err, res.Findings)
	}
	link := filepath.Join(t.TempDir(), "repo")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	res, err = Dir(link, Options{})
	if err != nil || len(res.Findings) != 2 {
		t.Fatalf("through a symlink: %v %+v", err, res.Findings)
	}
	if f := res.Findings[1]; f.Path != "notes.txt" || f.Column != 9 {
		t.Errorf("notes.txt: %+v, want column 9 (characters, not bytes)", f)
	}
	if _, err := Dir(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("a missing root scanned")
	}
}

// FuzzFile: any file content scans without a panic, every finding points
// into the file, and no message quotes the file's bytes beyond a name.
func FuzzFile(f *testing.F) {
	f.Add(".github/workflows/ci.yml", []byte("env:\n  X: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n  aws-access-key-id: x\n"))
	f.Add(".gitlab-ci.yml", []byte("s:\n  script: [\"$VAULT_TOKEN $$X\"]\n"))
	f.Add("a.env", []byte("T="+githubToken+"\r\n-----BEGIN PRIVATE KEY-----\n"))
	f.Add(".github/workflows/pr.yml", []byte("on: pull_request_target\npermissions: write-all\njobs:\n  é:\n    steps:\n      - uses: actions/checkout@v4\n        with: {ref: \"${{ github.head_ref }}\"}\n      - env: {A: \"${{ secrets.A }}\"}\n  b: {}\n"))
	f.Add(".gitlab-ci.yml", []byte("default:\n  id_tokens: {T: {aud: x}}\nj:\n  rules: [{if: $CI_PIPELINE_SOURCE == \"merge_request_event\"}]\n"))
	det := newDetector()
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		lines := strings.Split(string(data), "\n")
		for _, fd := range det.file(name, data) {
			if fd.Line < 1 || fd.Line > len(lines) || fd.Column < 1 || fd.Column > utf8.RuneCountInString(lines[fd.Line-1])+1 {
				t.Fatalf("finding %+v outside the file", fd)
			}
			if fd.Rule == RuleCredential && strings.Contains(fd.Message, strings.TrimSpace(lines[fd.Line-1])) && len(strings.TrimSpace(lines[fd.Line-1])) > 8 {
				t.Fatalf("message %q quotes the line", fd.Message)
			}
		}
	})
}

func TestFindingString(t *testing.T) {
	f := Finding{Rule: RuleCredential, Path: "a\nb.env", Line: 3, Column: 7, Message: "m"}
	if got := f.String(); got != `"a\nb.env":3:7: static-credential: m` {
		t.Errorf("String = %q", got)
	}
}
