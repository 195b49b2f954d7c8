package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaperone-ci/chaperone/agent/internal/wire"
	"github.com/chaperone-ci/chaperone/agent/provider"
	"github.com/chaperone-ci/chaperone/internal/regularfile"
)

// Platforms a Session can run on.
const (
	PlatformGitHub = "github"
	PlatformGitLab = "gitlab"
	PlatformLocal  = "local"
)

// defaultRefreshMargin is how close to expiry a cached GitHub token is
// re-minted.
const defaultRefreshMargin = time.Minute

// identity hands out the job's OIDC tokens, one per audience, and keeps a
// record of every token it handed out (fingerprints and claims only).
type identity struct {
	platform string
	source   string // github | gitlab | file | env
	getenv   func(string) string
	client   *http.Client
	deadline time.Duration
	file     string
	envName  string
	margin   time.Duration // re-mint cached tokens this close to expiry

	mu    sync.Mutex
	cache map[string]*token // by audience (GitHub)
	used  map[string]*token // by fingerprint
	onNew func(raw string)  // registers each new token with the masker
}

// newIdentity resolves identity.source (auto picks the platform the job
// runs on) and returns the token source for it.
func newIdentity(cfg IdentityConfig, getenv func(string) string, client *http.Client, deadline time.Duration) (*identity, error) {
	id := &identity{getenv: getenv, client: client, deadline: deadline, margin: defaultRefreshMargin, cache: map[string]*token{}, used: map[string]*token{}}
	src := cfg.Source
	if src == "auto" || src == "" {
		switch {
		case getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
			src = "github"
		case getenv("GITLAB_CI") == "true":
			src = "gitlab"
		case getenv(envOr(cfg.Env, "CHAPERONE_ID_TOKEN")) != "":
			src = "env"
		case cfg.File != "":
			src = "file"
		default:
			return nil, errors.New("no OIDC identity found: not on GitHub Actions with `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is unset), not on GitLab (GITLAB_CI), and CHAPERONE_ID_TOKEN is unset")
		}
	}
	id.source = src
	switch src {
	case "github":
		if getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" || getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") == "" {
			return nil, errors.New("identity github: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN must be set (give the job `permissions: id-token: write`)")
		}
		id.platform = PlatformGitHub
	case "gitlab":
		id.platform = PlatformGitLab
	case "file":
		id.file = cfg.File
		id.platform = detectPlatform(getenv)
	case "env":
		id.envName = envOr(cfg.Env, "CHAPERONE_ID_TOKEN")
		id.platform = detectPlatform(getenv)
	default:
		return nil, fmt.Errorf("identity source %q is not supported", src)
	}
	return id, nil
}

func detectPlatform(getenv func(string) string) string {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return PlatformGitHub
	case getenv("GITLAB_CI") == "true":
		return PlatformGitLab
	}
	return PlatformLocal
}

func envOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// forScope returns the token source a scope's provider draws from. On
// GitLab every scope names the variable holding its token.
func (id *identity) forScope(s Scope) provider.TokenSource {
	return scopeTokens{id: id, scope: s}
}

type scopeTokens struct {
	id    *identity
	scope Scope
}

func (st scopeTokens) Token(ctx context.Context, audience string) (string, error) {
	t, err := st.id.token(ctx, st.scope, audience)
	if err != nil {
		return "", fmt.Errorf("identity for scope %q: %w", st.scope.Name, err)
	}
	return t.raw, nil
}

func (id *identity) token(ctx context.Context, s Scope, audience string) (*token, error) {
	var t *token
	var err error
	switch id.source {
	case "github":
		t, err = id.mintGitHub(ctx, audience)
	case "gitlab":
		name := envOr(s.IDTokenVar, "CHAPERONE_ID_TOKEN")
		t, err = id.static(id.getenv(name), name, audience)
	case "env":
		name := envOr(s.IDTokenVar, id.envName)
		t, err = id.static(id.getenv(name), name, audience)
	case "file":
		var b []byte
		b, err = readBounded(id.file, MaxTokenBytes)
		if err == nil {
			t, err = id.static(string(b), id.file, audience)
		}
	}
	if err != nil {
		return nil, err
	}
	id.record(t)
	return t, nil
}

// static checks a token that cannot be re-minted (GitLab id_tokens, files).
func (id *identity) static(raw, where, audience string) (*token, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%s is empty or unset", where)
	}
	t, err := parseToken(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if audience != "" && !t.hasAudience(audience) {
		return nil, fmt.Errorf("%s: token audience %q does not include %q, which this scope presents (set the token's aud, or the scope's audience)", where, t.Audience, audience)
	}
	if !t.Expiry.IsZero() && time.Now().After(t.Expiry) {
		return nil, fmt.Errorf("%s: token expired at %s", where, t.Expiry.Format(time.RFC3339))
	}
	return t, nil
}

// mintGitHub asks the runner's token endpoint for a token with audience,
// reusing a cached one that is not about to expire.
func (id *identity) mintGitHub(ctx context.Context, audience string) (*token, error) {
	id.mu.Lock()
	cached := id.cache[audience]
	id.mu.Unlock()
	if cached != nil && time.Until(cached.Expiry) > id.margin {
		return cached, nil
	}
	u := id.getenv("ACTIONS_ID_TOKEN_REQUEST_URL")
	if audience != "" {
		sep := "&"
		if !strings.Contains(u, "?") {
			sep = "?"
		}
		u += sep + "audience=" + url.QueryEscape(audience)
	}
	var resp struct {
		Value string `json:"value"`
	}
	_, err := wire.Do(ctx, wire.Request{
		Op: "GitHub OIDC token request", Method: http.MethodGet, URL: u,
		Header: http.Header{"Authorization": {"Bearer " + id.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")}, "Accept": {"application/json"}},
	}, &resp, wire.Options{Client: id.client, Deadline: id.deadline})
	if err != nil {
		return nil, err
	}
	t, err := parseToken(resp.Value)
	if err != nil {
		return nil, fmt.Errorf("GitHub OIDC token request: %w", err)
	}
	id.mu.Lock()
	id.cache[audience] = t
	id.mu.Unlock()
	return t, nil
}

// record remembers t and, the first time it is seen, registers it as a
// secret: the job's own OIDC tokens must never reach the log.
func (id *identity) record(t *token) {
	fp := t.sha256()
	id.mu.Lock()
	_, seen := id.used[fp]
	id.used[fp] = t
	id.mu.Unlock()
	if !seen && id.onNew != nil {
		id.onNew(t.raw)
	}
}

// usedTokens returns the tokens handed out, oldest-expiring first.
func (id *identity) usedTokens() []*token {
	id.mu.Lock()
	defer id.mu.Unlock()
	out := make([]*token, 0, len(id.used))
	for _, t := range id.used {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sha256() < out[j].sha256() })
	return out
}

// readBounded reads at most limit bytes of a regular file, failing if it is
// larger or not a regular file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return regularfile.ReadAll(f, path, limit)
}
