// Package deliver serves a job's credentials from a loopback endpoint for
// the job's lifetime, in the shapes SDKs and tools already read: AWS
// container credentials, GCE metadata, and docker and git credential
// helpers. Credentials are fetched from a Source on every request, so a
// grant refreshed by the agent reaches the job without a restart, and every
// fetch is reported (time, scope, client process) for the attestation.
package deliver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// Source returns the live grant of a scope, refreshing it when it is close
// to expiry.
type Source func(ctx context.Context, scope string) (*provider.Grant, error)

// Route is one scope served by the endpoint.
type Route struct {
	Scope    string
	Provider string // aws | gcp | github | vault | token-exchange | azure
	// Registries are the docker registry hosts the scope's token logs in
	// to, and Username the name presented with it.
	Registries []string
	Username   string
	// GitHosts are the hosts git asks the credential helper about.
	GitHosts []string
	// ServiceAccount and Project answer GCE metadata queries.
	ServiceAccount string
	Project        string
}

// Fetch is one read of a credential through the endpoint.
type Fetch struct {
	Scope      string
	Protocol   string // aws | gce | docker | git
	At         time.Time
	PID        int    // the client process, when /proc shows it
	Executable string // its executable
}

// Options configure Start.
type Options struct {
	Routes []Route
	Source Source
	// OnFetch is called for every credential served.
	OnFetch func(Fetch)
	// Dir is a private directory (0700) for the helper links and docker
	// config; Close does not remove it.
	Dir string
	// Executable is the chaperone binary the helper links point to;
	// default os.Executable().
	Executable string
}

// Endpoint is a running loopback credential server. It serves only
// processes of the user it runs as (the job's user): on every route a
// client of another user is refused with 403 before anything else is
// looked at, even when it presents the bearer token.
type Endpoint struct {
	URL   string // http://127.0.0.1:PORT
	token string
	uid   int // the user whose processes are served
	opts  Options
	srv   *http.Server
	ln    net.Listener
	env   []string

	closeOnce sync.Once
}

// Start listens on 127.0.0.1 and serves opts.Routes until Close.
func Start(opts Options) (*Endpoint, error) {
	if opts.Source == nil {
		return nil, errors.New("deliver: Options.Source is required")
	}
	if opts.Dir == "" {
		return nil, errors.New("deliver: Options.Dir is required")
	}
	if err := checkRoutes(opts.Routes); err != nil {
		return nil, err
	}
	if opts.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("deliver: locating chaperone for the credential helpers: %w", err)
		}
		opts.Executable = exe
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	e := &Endpoint{URL: "http://" + ln.Addr().String(), token: randomToken(), uid: os.Getuid(), opts: opts, ln: ln}
	if err := e.prepareEnv(); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /aws/{scope}", e.serveAWS)
	mux.HandleFunc("/computeMetadata/v1/", e.serveGCE)
	mux.HandleFunc("GET /docker", e.serveDocker)
	mux.HandleFunc("GET /git", e.serveGit)
	e.srv = &http.Server{Handler: e.ownUserOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

func checkRoutes(routes []Route) error {
	aws, gcp := 0, 0
	for _, r := range routes {
		switch r.Provider {
		case "aws":
			aws++
		case "gcp":
			gcp++
		}
	}
	if aws > 1 {
		return errors.New("deliver: only one aws scope can use deliver: endpoint (SDKs read one container-credentials URL)")
	}
	if gcp > 1 {
		return errors.New("deliver: only one gcp scope can use deliver: endpoint (SDKs read one metadata server)")
	}
	return nil
}

// Token is the per-job bearer every authenticated route requires. It is a
// secret: register it with the masker.
func (e *Endpoint) Token() string { return e.token }

// Env is what the job's environment needs to find the endpoint.
func (e *Endpoint) Env() []string { return append([]string(nil), e.env...) }

// Close stops serving; the job's later requests are refused.
func (e *Endpoint) Close() error {
	var err error
	e.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = e.srv.Shutdown(ctx)
	})
	return err
}

// prepareEnv writes the helper links and docker config and computes Env.
func (e *Endpoint) prepareEnv() error {
	host := strings.TrimPrefix(e.URL, "http://")
	e.env = []string{"CHAPERONE_ENDPOINT=" + e.URL, "CHAPERONE_ENDPOINT_TOKEN=" + e.token}
	var registries = map[string]string{}
	git := false
	for _, r := range e.opts.Routes {
		switch r.Provider {
		case "aws":
			e.env = append(e.env,
				"AWS_CONTAINER_CREDENTIALS_FULL_URI="+e.URL+"/aws/"+r.Scope,
				"AWS_CONTAINER_AUTHORIZATION_TOKEN="+e.token)
		case "gcp":
			e.env = append(e.env, "GCE_METADATA_HOST="+host, "GCE_METADATA_IP="+host)
		}
		for _, reg := range r.Registries {
			registries[reg] = "chaperone"
		}
		git = git || len(r.GitHosts) > 0
	}
	bin := filepath.Join(e.opts.Dir, "bin")
	if len(registries) > 0 || git {
		if err := os.MkdirAll(bin, 0o700); err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
		for _, name := range []string{DockerHelperName, GitHelperName} {
			if err := os.Symlink(e.opts.Executable, filepath.Join(bin, name)); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("deliver: credential helper link: %w", err)
			}
		}
		e.env = append(e.env, "CHAPERONE_HELPER_PATH="+bin)
	}
	if len(registries) > 0 {
		dockerDir := filepath.Join(e.opts.Dir, "docker")
		if err := os.MkdirAll(dockerDir, 0o700); err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
		cfg, _ := json.Marshal(map[string]any{"credHelpers": registries})
		if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), cfg, 0o600); err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
		e.env = append(e.env, "DOCKER_CONFIG="+dockerDir)
	}
	if git {
		e.env = append(e.env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=credential.helper", "GIT_CONFIG_VALUE_0=chaperone")
	}
	return nil
}

// route returns the route of a scope, or of the first scope serving a
// protocol-specific key (registry or git host).
func (e *Endpoint) route(match func(Route) bool) (Route, bool) {
	for _, r := range e.opts.Routes {
		if match(r) {
			return r, true
		}
	}
	return Route{}, false
}

func (e *Endpoint) authorized(r *http.Request, scheme string) bool {
	got := r.Header.Get("Authorization")
	want := e.token
	if scheme != "" {
		want = scheme + " " + e.token
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// peerKey is the request context key of the client's *peer.
type peerKey struct{}

// ownUserOnly serves h only to clients whose socket belongs to the
// endpoint's user, and refuses every other request with 403, naming the
// client's uid and nothing else. The bearer token alone is not enough: it
// sits in the job's environment, where other local users may read it.
// Where /proc tells nothing (systems other than Linux) the token is the
// only check; on Linux a client whose socket cannot be found is refused.
func (e *Endpoint) ownUserOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := lookupPeer(r.RemoteAddr, e.ln.Addr().String())
		switch {
		case ok && p.uid != e.uid:
			writeError(w, http.StatusForbidden, "AccessDenied", fmt.Sprintf("client runs as uid %d; this endpoint serves only the job's user (uid %d)", p.uid, e.uid))
			return
		case !ok && runtime.GOOS == "linux":
			writeError(w, http.StatusForbidden, "AccessDenied", "cannot tell which user the client runs as (its socket is not in /proc/net/tcp)")
			return
		case ok:
			r = r.WithContext(context.WithValue(r.Context(), peerKey{}, &p))
		}
		h.ServeHTTP(w, r)
	})
}

// grant fetches the scope's current grant and records the fetch with its
// client process where /proc shows it.
func (e *Endpoint) grant(w http.ResponseWriter, r *http.Request, scope, protocol string) (*provider.Grant, bool) {
	g, err := e.opts.Source(r.Context(), scope)
	if err != nil {
		writeError(w, http.StatusBadGateway, "CredentialUnavailable", fmt.Sprintf("scope %s: %v", scope, err))
		return nil, false
	}
	if e.opts.OnFetch != nil {
		f := Fetch{Scope: scope, Protocol: protocol, At: time.Now().UTC()}
		if p, ok := r.Context().Value(peerKey{}).(*peer); ok {
			f.PID, f.Executable = p.process()
		}
		e.opts.OnFetch(f)
	}
	return g, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// expiresIn is the seconds left, never negative.
func expiresIn(t time.Time) int64 {
	if t.IsZero() {
		return 3600
	}
	return max(0, int64(time.Until(t).Seconds()))
}
