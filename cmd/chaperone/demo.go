package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/chaperone-ci/chaperone/agent"
	"github.com/chaperone-ci/chaperone/attest"
	"github.com/chaperone-ci/chaperone/attest/verify"
	"github.com/chaperone-ci/chaperone/internal/devstack"
)

// demoScript is the sample job: it prints the credentials it was given in
// several ways, as careless build scripts do.
const demoScript = `
echo "deploying with db password: $DB_PASSWORD"
printf 'db user=%s api token=%s\n' "$DB_USERNAME" "$API_TOKEN"
echo "cloning with $GITHUB_TOKEN" >&2
env | grep -E '^(DB_PASSWORD|DB_USERNAME|API_TOKEN|GITHUB_TOKEN)=' | sort
printf '%s' "$DB_PASSWORD" | head -c 7; sleep 0.05; printf '%s\n' "$DB_PASSWORD" | tail -c +8
echo "curl -H 'Authorization: token $GITHUB_TOKEN' https://api.github.com/user"
`

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a sample job on the embedded backends: issue, mask, revoke, sign, verify",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", EnvVars: []string{"CHAPERONE_DEMO_OUT"}, Usage: "directory for the bundle and keys (default: a new temporary directory, kept)"},
		},
		Action: runDemo,
	}
}

func runDemo(c *cli.Context) error {
	out := c.App.Writer
	dir := c.String("out")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "chaperone-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := devstack.Start(c.Context, devstack.Options{Dir: filepath.Join(dir, "devstack"), AllProviders: true})
	if err != nil {
		return &agent.AgentError{Err: fmt.Errorf("devstack: %w", err)}
	}
	defer st.Close()
	env := st.Env()
	getenv := envLookup(env)
	fmt.Fprintf(out, "== devstack: OIDC issuer %s, Vault %s, GitHub token exchange %s and API %s\n", st.IssuerURL, st.VaultAddr, st.GitHubSTSURL, st.GitHubAPIURL)

	cfg, err := agent.LoadConfig(st.ConfigPath)
	if err != nil {
		return err
	}
	cfg.Attest.Output = filepath.Join(dir, attest.DefaultBundleFile)
	var agentLog bytes.Buffer
	s, err := agent.NewSession(agent.Options{
		Config: cfg, Getenv: getenv, Environ: append(minimalEnviron(), env...),
		Log: &agentLog, Version: version, Commit: commit,
	})
	if err != nil {
		return err
	}
	if err := s.Begin(c.Context); err != nil {
		return err
	}
	fmt.Fprintf(out, "== job log (the script prints its credentials; chaperone masks them)\n")
	var log bytes.Buffer
	jobOut := io.MultiWriter(prefixWriter(out, "   | "), &log)
	code, err := s.Run(c.Context, []string{"sh", "-c", demoScript}, nil, jobOut, jobOut)
	if err != nil {
		return err
	}
	sum, stopErr := s.Stop(c.Context)
	if stopErr != nil {
		return stopErr
	}

	var failures []string
	check := func(ok bool, what string) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			failures = append(failures, what)
		}
		fmt.Fprintf(out, "   %s %s\n", mark, what)
	}
	fmt.Fprintf(out, "== checks\n")
	check(code == 0, "the job exited 0")
	leaked := 0
	for _, v := range st.Secrets() {
		if strings.Contains(log.String(), v) {
			leaked++
		}
	}
	for _, v := range s.Secrets() {
		if strings.Contains(log.String(), v) {
			leaked++
		}
	}
	check(leaked == 0 && sum.Redactions > 0, fmt.Sprintf("no secret value reached the log (%d redactions)", sum.Redactions))
	revoked, revocable, bounded := 0, 0, 0
	for _, cr := range st.Credentials() {
		if cr.Revoked {
			revoked++
		}
	}
	for _, g := range sum.Grants {
		switch g.Revocation.Outcome {
		case attest.RevocationRevoked:
			revocable++
		case attest.RevocationExpiry:
			if g.Revocation.ExpiresAt != nil {
				bounded++
			}
		}
	}
	check(revocable > 0 && revoked == revocable && revocable+bounded == len(sum.Grants),
		fmt.Sprintf("the issuers report %d of %d revocable credentials revoked; %d more bounded by expiry", revoked, revocable, bounded))
	pub, err := os.ReadFile(st.PublicKeyPath)
	if err != nil {
		return err
	}
	bundle, err := attest.ReadBundleFile(sum.BundlePath)
	if err != nil {
		return err
	}
	jobDigest := attest.JobSubjectDigest(sum.Job.RunURI)
	_, verr := verify.Bundle(bundle, verify.Options{PublicKeyPEM: pub, ArtifactDigest: &jobDigest})
	check(verr == nil, "the attestation verifies with the signing key")
	if verr != nil {
		fmt.Fprintf(out, "        %v\n", verr)
	}
	trustedRoot := filepath.Join(dir, "trusted-root.json")
	if err := os.WriteFile(trustedRoot, []byte(emptyTrustedRoot), 0o644); err != nil {
		return err
	}

	fmt.Fprintf(out, "== summary\n")
	fmt.Fprintf(out, "   identity  %s\n             issuer %s\n", sum.Identity.Subject, sum.Identity.Issuer)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, g := range sum.Grants {
		fmt.Fprintf(tw, "   grant     %s\t%s\t%s\t%s\n", g.Scope, g.Provider, g.Principal, revocationText(g.Revocation))
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "   bundle    %s\n", sum.BundlePath)
	fmt.Fprintf(out, "   verify    chaperone verify %s --key %s --digest sha256:%s\n", sum.BundlePath, st.PublicKeyPath, sum.JobSubject.Digest["sha256"])
	fmt.Fprintf(out, "   cosign    cosign verify-blob-attestation --new-bundle-format --insecure-ignore-tlog --trusted-root %s --key %s --bundle %s --type %s --digest %s --digestAlg sha256\n",
		trustedRoot, st.PublicKeyPath, sum.BundlePath, attest.PredicateTypeJob, sum.JobSubject.Digest["sha256"])
	if len(failures) > 0 {
		return &agent.AgentError{Err: errors.New("demo: " + strings.Join(failures, "; "))}
	}
	return nil
}

// emptyTrustedRoot is what `cosign trusted-root create` writes with no
// authorities: enough for cosign to verify key-signed bundles offline.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}` + "\n"

func envLookup(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// minimalEnviron is the demo job's base environment: enough to find sh.
func minimalEnviron() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C"}
}

// prefixWriter indents each line written through it.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &linePrefixer{w: w, prefix: prefix, atStart: true}
}

type linePrefixer struct {
	w       io.Writer
	prefix  string
	atStart bool
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	var buf bytes.Buffer
	for _, c := range b {
		if p.atStart {
			buf.WriteString(p.prefix)
			p.atStart = false
		}
		buf.WriteByte(c)
		if c == '\n' {
			p.atStart = true
		}
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}
