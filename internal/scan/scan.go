// Package scan finds the static credentials a repository's CI uses, which
// short-lived federated ones should replace: credentials written into files
// (found by the masker's detectors), and long-lived secrets that CI
// configurations pass to jobs (by name, and by the inputs of the actions
// that take static keys). It also finds CI setups that hand credentials to
// code they should not, or keep them longer than needed.
package scan

import (
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chaperone-ci/chaperone/masking"
)

// A Finding is one static credential, one use of a long-lived secret, or
// one risky CI setup. It never holds the credential.
type Finding struct {
	Rule    string `json:"rule"`
	Path    string `json:"path"` // slash-separated, relative to the scanned root
	Line    int    `json:"line"`
	Column  int    `json:"column"` // 1-based, in characters (Unicode code points)
	Message string `json:"message"`
	// Provider is the chaperone provider whose short-lived credentials
	// replace it, when there is one.
	Provider string `json:"provider,omitempty"`
}

// String is the finding as a compiler would print it, PATH:LINE:COLUMN:
// RULE: MESSAGE; a path with control characters, which would write to the
// terminal or the CI log, is quoted.
func (f Finding) String() string {
	p := f.Path
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p = strconv.Quote(p)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p, f.Line, f.Column, f.Rule, f.Message)
}

// Rules returns the rule ids, with what each finds.
func Rules() []RuleInfo {
	return append([]RuleInfo{
		{RuleCredential, "a credential written into a file (a token, access key, private key, or a password in a URL)"},
		{RuleLongLivedSecret, "a CI configuration passes a long-lived cloud or service credential to a job"},
		{RuleStaticKeyInput, "an action is given a static key where it could federate with the job's OIDC identity"},
	}, riskRules()...)
}

// RuleInfo describes a rule.
type RuleInfo struct{ ID, Description string }

// Rule ids.
const (
	RuleCredential      = "static-credential"
	RuleLongLivedSecret = "long-lived-secret"
	RuleStaticKeyInput  = "static-key-input"
)

// Options bound a scan.
type Options struct {
	// MaxFileSize skips larger files; default 1 MiB.
	MaxFileSize int64
}

// skipDir reports the directories never scanned: other people's code,
// and build output.
func skipDir(name string) bool {
	switch name {
	case ".git", "node_modules", "vendor", ".cache", "dist", "target":
		return true
	}
	return false
}

// A Result is what a scan found, and the files it could not read.
type Result struct {
	Findings []Finding
	// Skipped are the files or directories that could not be read, each
	// with why; the scan went on without them.
	Skipped []string
}

// Dir scans root, a directory (its files, but not those of skipDir's
// directories) or one file, and returns the findings sorted by path and
// position. It fails only if root cannot be read at all.
func Dir(root string, opts Options) (*Result, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = 1 << 20
	}
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return nil, err
	}
	det := newDetector()
	res := &Result{}
	if !info.IsDir() {
		// One file, named as given (a workflow is known by its path).
		data, err := os.ReadFile(resolved)
		if err != nil {
			return nil, err
		}
		res.Findings = det.file(filepath.ToSlash(filepath.Clean(root)), data)
		return res, nil
	}
	_ = filepath.WalkDir(resolved, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			res.Skipped = append(res.Skipped, err.Error())
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != resolved && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // symlinks too: no loops, nothing outside root
		}
		if info, err := d.Info(); err != nil || info.Size() > opts.MaxFileSize {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			res.Skipped = append(res.Skipped, err.Error())
			return nil
		}
		rel, err := filepath.Rel(resolved, p)
		if err != nil {
			return err
		}
		res.Findings = append(res.Findings, det.file(filepath.ToSlash(rel), data)...)
		return nil
	})
	slices.SortStableFunc(res.Findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return res, nil
}

// detector finds credentials in text with the masker's detectors.
type detector struct {
	set *masking.Set
}

// Allow on a line (in a comment) exempts it: a test fixture, an example.
const Allow = "chaperone:allow"

// mark stands in for masked runs: a byte no text file holds.
const mark = "\x00"

func newDetector() *detector {
	return &detector{set: masking.NewSet(masking.Options{Mask: mark})}
}

// minCredential is the shortest masked run reported: a token prefix
// mentioned in documentation ("ghp_…") is not a credential.
const minCredential = 16

// file scans one file: binary files (a NUL in the first 8 KiB) are skipped.
func (d *detector) file(name string, data []byte) []Finding {
	if bytes.IndexByte(data[:min(len(data), 8<<10)], 0) >= 0 {
		return nil
	}
	var out []Finding
	ci := ciConfig(name)
	switch {
	case ci == "gitlab":
		out = append(out, gitlabRisks(name, data)...)
	case ci == "github" && !isActionManifest(name):
		out = append(out, workflowRisks(name, data)...)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, Allow) {
			continue
		}
		out = append(out, d.line(name, i+1, line)...)
		if ci != "" {
			out = append(out, secretUses(ci, name, i+1, line)...)
		}
	}
	return out
}

// line reports the credentials of one line, by the detector that found
// each (the hit counters of the masker say which).
func (d *detector) line(name string, n int, line string) []Finding {
	if pem := pemHeader.FindStringIndex(line); pem != nil {
		return []Finding{{Rule: RuleCredential, Path: name, Line: n, Column: column(line, pem[0]), Message: "a private key (" + masking.DetectPrivateKey + ")"}}
	}
	before := d.set.Hits()
	masked := d.set.MaskString(line)
	if masked == line {
		return nil
	}
	var ids []string
	for id, count := range d.set.Hits() {
		if count > before[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	// The masked run: from the first difference to the last.
	start := 0
	for start < len(masked) && start < len(line) && masked[start] == line[start] {
		start++
	}
	end := 0
	for end < len(masked)-start && end < len(line)-start && masked[len(masked)-1-end] == line[len(line)-1-end] {
		end++
	}
	if len(line)-end-start < minCredential && !strings.Contains(strings.Join(ids, ","), masking.DetectURLPassword) {
		return nil
	}
	if secret := line[start : len(line)-end]; strings.HasPrefix(secret, "$") || strings.Contains(secret, "{{") {
		return nil // a reference to a variable, not a value: ${CI_JOB_TOKEN}
	}
	// Detectors leave a token's prefix visible (ghp_, AKIA, glpat-): the
	// credential starts where its token characters do, a prefix back.
	for k := 0; k < maxPrefix && start > 0 && tokenByte(line[start-1]); k++ {
		start--
	}
	return []Finding{{Rule: RuleCredential, Path: name, Line: n, Column: column(line, start),
		Message: "a credential in the file (" + strings.Join(ids, ", ") + "): revoke it, and let the job obtain a short-lived one"}}
}

// pemHeader starts a private key (the masker's detector masks the lines
// after it, which a line on its own does not show): at the start of a line
// (a key file, a YAML block), or followed by an escaped newline and key
// data (a key inside a JSON string), not a header named in source code.
var pemHeader = regexp.MustCompile(`^\s*-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----\\n[A-Za-z0-9+/=]{16}`)

// maxPrefix is the longest token prefix a detector leaves visible
// (github_pat_, glagent-).
const maxPrefix = 12

// column is the 1-based character column of byte offset i of line.
func column(line string, i int) int { return utf8.RuneCountInString(line[:i]) + 1 }

// ciConfig says which CI a file configures: "github", "gitlab", or "".
func ciConfig(name string) string {
	switch {
	case strings.Contains("/"+name, "/.github/workflows/") && (path.Ext(name) == ".yml" || path.Ext(name) == ".yaml"),
		isActionManifest(name):
		return "github"
	case path.Base(name) == ".gitlab-ci.yml" || strings.HasSuffix(name, ".gitlab-ci.yml"):
		return "gitlab"
	}
	return ""
}

func isActionManifest(name string) bool {
	return path.Base(name) == "action.yml" || path.Base(name) == "action.yaml"
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}
