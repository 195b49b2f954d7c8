package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// The GitHub Action is a container action: the runner runs `chaperone
// action main` in a container at the step, and `chaperone action post` in
// another one at the end of the job (post-if: always()). Both drive one
// Session: main begins it and seals it into the action home, post resumes
// it and stops it.

// ActionOptions configure the action's entry points. Zero values default
// to the process's own environment and standard streams.
type ActionOptions struct {
	Getenv  func(string) string // default os.Getenv
	Environ []string            // default os.Environ()
	// Stdout is the step's standard output, where workflow commands
	// (::add-mask::, ::error::) go; Stderr takes chaperone's messages.
	Stdout, Stderr io.Writer
	HTTPClient     *http.Client
	// Executable is the running chaperone binary, which main installs
	// for the job's later steps.
	Executable string
	// JobStatus is GitHub's job.status (post's job-status input), the
	// outcome of a job whose steps the action does not run itself.
	JobStatus       string
	Version, Commit string
}

func (o ActionOptions) withDefaults() ActionOptions {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// sessionOptions are the Session options every action step shares.
func (o ActionOptions) sessionOptions(log io.Writer) Options {
	return Options{Getenv: o.Getenv, Environ: o.Environ, Log: log, HTTPClient: o.HTTPClient, JobStatus: o.JobStatus, Version: o.Version, Commit: o.Commit}
}

// ActionMain is the action's main step. It obtains the job's identity and
// a grant for each selected scope (Session.Begin); registers every secret
// and each of its encoded forms with ::add-mask:: before printing
// anything else; exports the credentials through GITHUB_ENV; seals the
// Session into the action home for post, with its key in GITHUB_STATE;
// installs the chaperone binary for later steps (GITHUB_PATH); and sets
// the outputs identity and scopes. When it fails after issuing, it stops
// the Session itself: the grants are revoked and the failure attested.
func ActionMain(ctx context.Context, o ActionOptions) error {
	o = o.withDefaults()
	gha := githubactions.New(githubactions.WithWriter(o.Stdout), githubactions.WithGetenv(o.Getenv))
	err := actionMain(ctx, o, gha)
	if err != nil {
		annotateError(gha, err)
	}
	return err
}

func actionMain(ctx context.Context, o ActionOptions, gha *githubactions.Action) error {
	if err := requireFileCommands(o.Getenv, "GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_PATH"); err != nil {
		return err
	}
	home, err := findActionHome(o.Getenv)
	if err != nil {
		return err
	}
	in, err := readActionInputs(gha.GetInput)
	if err != nil {
		return err
	}
	cfg, err := actionConfig(in)
	if err != nil {
		return err
	}
	if err := refuseUnservedDeliveries(cfg); err != nil {
		return err
	}
	log := &heldLog{w: o.Stderr}
	defer log.release()
	opts := o.sessionOptions(log)
	opts.Config = cfg
	if in.Policy != "" {
		if opts.Policy, err = LoadPolicy(in.Policy); err != nil {
			return err
		}
	}
	if err := home.prepare(); err != nil {
		return &AgentError{Err: err}
	}
	// The plain state lives in the container only, and only until sealed.
	plain, err := os.MkdirTemp("", "chaperone-action-")
	if err != nil {
		return &AgentError{Err: err}
	}
	defer os.RemoveAll(plain)
	opts.StateDir = filepath.Join(plain, "session")
	s, err := NewSession(opts)
	if err != nil {
		return err
	}
	key := newStateKey()
	s.addSecret(key)
	if err := s.Begin(ctx); err != nil {
		// Begin stopped the failed start; what it issued is revoked, but
		// its values are still masked before anything is printed.
		if maskErr := s.addMasks(o.Stdout, s.Secrets()); maskErr != nil {
			return errors.Join(err, maskErr)
		}
		return err
	}
	dir := home.stateDir(o.Getenv)
	abort := func(err error) error {
		s.mu.Lock()
		s.st.Failure = s.scrub(err.Error())
		s.mu.Unlock()
		_, _ = s.Stop(ctx)
		_ = os.RemoveAll(dir)
		return err
	}
	if err := s.ExportGitHub(o.Stdout, o.Getenv("GITHUB_ENV")); err != nil {
		return abort(err)
	}
	log.release()
	plainState, err := readPrivateFile(filepath.Join(opts.StateDir, stateFile), maxStateBytes)
	if err != nil {
		return abort(&AgentError{Err: fmt.Errorf("reading the saved session: %w", err)})
	}
	if err := sealState(dir, key, plainState, home.KeyOnDisk); err != nil {
		return abort(&AgentError{Err: fmt.Errorf("sealing the session for post: %w", err)})
	}
	bin, err := home.installBinary(o.Executable)
	if err != nil {
		return abort(&AgentError{Err: err})
	}
	if err := ghaDo("GITHUB_PATH", func() { gha.AddPath(bin) }); err != nil {
		return abort(err)
	}
	if err := setOutput(gha, "identity", s.st.Identity.Subject); err != nil {
		return abort(err)
	}
	if err := setOutput(gha, "scopes", strings.Join(s.grantedScopes(), ",")); err != nil {
		return abort(err)
	}
	// Last: a post that finds the key in STATE_* knows main sealed a
	// session, and refuses to go on when it is gone.
	if err := ghaDo("GITHUB_STATE", func() {
		gha.SaveState(stateDirName, dir)
		gha.SaveState(stateKeyName, key)
	}); err != nil {
		return abort(err)
	}
	s.logf("session sealed for the post step; chaperone installed in %s for later steps", bin)
	return nil
}

// ActionPost is the action's post step. It opens the Session that main
// sealed (refusing one that is missing, was replaced or does not match its
// key: nothing is revoked or attested from a state it cannot trust), stops
// it (revoke, sign, store the bundle), sets the bundle output and writes
// the job summary. It fails when a revocation failed or the attestation
// could not be written.
func ActionPost(ctx context.Context, o ActionOptions) error {
	o = o.withDefaults()
	gha := githubactions.New(githubactions.WithWriter(o.Stdout), githubactions.WithGetenv(o.Getenv))
	err := actionPost(ctx, o, gha)
	if err != nil {
		annotateError(gha, err)
	}
	return err
}

func actionPost(ctx context.Context, o ActionOptions, gha *githubactions.Action) error {
	if err := requireFileCommands(o.Getenv, "GITHUB_OUTPUT"); err != nil {
		return err
	}
	home, err := findActionHome(o.Getenv)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "chaperone-action-")
	if err != nil {
		return &AgentError{Err: err}
	}
	defer os.RemoveAll(tmp)
	log := &heldLog{w: o.Stderr}
	defer log.release()
	o.JobStatus = gha.GetInput("job-status")
	s, dir, err := openActionSession(o, home, tmp, log)
	if err != nil {
		err = &AgentError{Err: fmt.Errorf("action post: %w", err)}
		_ = addStepSummary(gha, o.Getenv, "### chaperone\n\n> [!CAUTION]\n> The post step did not stop the session: "+
			mdPlain(err.Error())+"\n> chaperone revoked nothing and attested nothing; the grants main issued end with their lifetimes.\n")
		return err
	}
	known := s.Secrets()
	sum, stopErr := s.Stop(ctx)
	// Secrets obtained while stopping (a signing token) are masked
	// before the held messages are printed.
	var fresh []string
	for _, v := range s.Secrets() {
		if !slices.Contains(known, v) {
			fresh = append(fresh, v)
		}
	}
	maskErr := s.addMasks(o.Stdout, fresh)
	log.release()
	_ = os.RemoveAll(dir) // consumed: its grants are settled
	bundle := workspacePath(o.Getenv("GITHUB_WORKSPACE"), sum.BundlePath)
	if bundle != "" {
		s.logf("attestation %s (outcome %s)", bundle, sum.Outcome)
	}
	errs := []error{stopErr, maskErr,
		setOutput(gha, "bundle", bundle),
		addStepSummary(gha, o.Getenv, s.stepSummary(sum, bundle, stopErr))}
	return errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}

// openActionSession finds the sealed Session of this step, opens it with
// its key and resumes it from tmp, a private directory of this container,
// with its messages going to log. It also returns the sealed directory.
func openActionSession(o ActionOptions, home actionHome, tmp string, log io.Writer) (*Session, string, error) {
	key := o.Getenv("STATE_" + stateKeyName)
	dir := o.Getenv("STATE_" + stateDirName)
	if dir == "" {
		dir = home.stateDir(o.Getenv)
	}
	if key == "" && !home.KeyOnDisk {
		return nil, dir, errors.New("no session to stop: main saved none (it failed before; its log says why)")
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if key != "" {
			return nil, dir, fmt.Errorf("the session main sealed in %s is gone: a later step removed it", dir)
		}
		return nil, dir, fmt.Errorf("no session in %s: main saved none, or a later step removed it", dir)
	}
	plain, err := openState(dir, key)
	if err != nil {
		return nil, dir, fmt.Errorf("refusing the session in %s: %w", dir, err)
	}
	stateDir := filepath.Join(tmp, "session")
	if err := makePrivateDir(stateDir); err != nil {
		return nil, dir, err
	}
	if err := atomicfile.Write(filepath.Join(stateDir, stateFile), plain, 0o600); err != nil {
		return nil, dir, err
	}
	opts := o.sessionOptions(log)
	opts.StateDir = stateDir
	s, err := Resume(opts)
	if err != nil {
		return nil, dir, err
	}
	return s, dir, nil
}

// refuseUnservedDeliveries refuses scopes whose delivery the action
// cannot make: its container is gone when the step ends, so it serves no
// endpoint, and files it writes are not the later steps'.
func refuseUnservedDeliveries(cfg *Config) error {
	var endpoint, file []string
	for _, sc := range cfg.Scopes {
		switch sc.Deliver {
		case "endpoint":
			endpoint = append(endpoint, sc.Name)
		case "file":
			file = append(file, sc.Name)
		}
	}
	switch {
	case len(endpoint) > 0:
		return configErrorf("scopes %s use deliver: endpoint, which needs a process for the whole job: the action's container ends with its step. Leave them out here (input scopes) and run the command in a later step with `chaperone run --config … -- CMD` (the action installs chaperone for later steps)", strings.Join(endpoint, ", "))
	case len(file) > 0:
		return configErrorf("scopes %s use deliver: file, whose files a later step cannot read from the action's container: use deliver: env here, or `chaperone run` in a later step", strings.Join(file, ", "))
	}
	return nil
}

// grantedScopes names the scopes the Session holds a grant for.
func (s *Session) grantedScopes() []string {
	var out []string
	for _, g := range s.st.Grants {
		if !slices.Contains(out, g.Scope) {
			out = append(out, g.Scope)
		}
	}
	return out
}

// requireFileCommands checks the runner gave the step its file commands.
func requireFileCommands(getenv func(string) string, names ...string) error {
	for _, name := range names {
		if getenv(name) == "" {
			return configErrorf("action: %s is not set: `chaperone action` runs as the GitHub Action's container (in a run: step use `chaperone start --shell github` or `chaperone run`)", name)
		}
	}
	return nil
}

// workspacePath is path as the job's later steps name it: relative to the
// workspace (their working directory) when it lies inside it.
func workspacePath(workspace, path string) string {
	if path == "" || !filepath.IsAbs(path) || workspace == "" {
		return path
	}
	if rel, err := filepath.Rel(workspace, path); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return path
}

// ghaDo runs a go-githubactions call, which panics when it cannot write
// its stream or file, and returns that as an error.
func ghaDo(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &AgentError{Err: fmt.Errorf("%s: %v", what, r)}
		}
	}()
	f()
	return nil
}

// workflowCommandDelimiter is the heredoc delimiter go-githubactions
// writes file commands with; a value must not be able to end its entry.
const workflowCommandDelimiter = "_GitHubActionsFileCommandDelimeter_"

// setOutput sets a step output (one line: go-githubactions' fixed
// delimiter must not be able to end the entry early).
func setOutput(gha *githubactions.Action, name, value string) error {
	if strings.ContainsAny(value, "\r\n") || strings.Contains(value, workflowCommandDelimiter) {
		return &AgentError{Err: fmt.Errorf("output %s: not a single-line value", name)}
	}
	return ghaDo("GITHUB_OUTPUT", func() { gha.SetOutput(name, value) })
}

// addStepSummary appends markdown to the job summary, when the runner
// gives the step one.
func addStepSummary(gha *githubactions.Action, getenv func(string) string, markdown string) error {
	if getenv("GITHUB_STEP_SUMMARY") == "" {
		return nil
	}
	return ghaDo("GITHUB_STEP_SUMMARY", func() { gha.AddStepSummary(markdown) })
}

// annotateError reports err as an error annotation of the step.
func annotateError(gha *githubactions.Action, err error) {
	_ = ghaDo("::error::", func() { gha.Errorf("chaperone: %s", oneLine(err.Error())) })
}

// mdPlain makes a message inert Markdown on one line.
func mdPlain(v string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "'", "|", "\\|").Replace(v)
}

// heldLog holds the Session's messages until the step has registered its
// secrets with the runner, then passes them on.
type heldLog struct {
	mu   sync.Mutex
	w    io.Writer
	buf  bytes.Buffer
	open bool
}

func (l *heldLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		return l.w.Write(p)
	}
	return l.buf.Write(p)
}

// release writes what was held and passes later messages straight on.
func (l *heldLog) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.open {
		l.open = true
		_, _ = l.w.Write(l.buf.Bytes())
		l.buf.Reset()
	}
}
