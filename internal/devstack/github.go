package devstack

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GitHubIdentity is the octo-sts identity (trust policy name) that lets the
// devstack job's tokens exchange for an installation token of Repository.
const GitHubIdentity = "ci"

const githubDocsURL = "https://docs.github.com/rest"

// gRPC status codes, which octo-sts's gateway puts in its error bodies.
const (
	grpcInvalidArgument  = 3
	grpcNotFound         = 5
	grpcPermissionDenied = 7
	grpcInternal         = 13
	grpcUnauthenticated  = 16
)

// githubServer stands in for octo-sts (the exchange) and for the part of the
// GitHub REST API that uses and revokes installation tokens. They are two
// hosts, as in reality: exchangeRoutes and apiRoutes are served on
// different listeners, so a client that revokes at the exchange's host
// fails as it would against octo-sts.
type githubServer struct {
	apiURL   string
	domain   string // the exchange's host, its default audience
	verifier *tokenVerifier
	ledger   *ledger
	ttl      time.Duration
	job      *job

	mu       sync.Mutex
	policies map[string]*octoTrustPolicy // by OWNER/REPO/IDENTITY (REPO .github for an organisation's)
	issued   int
}

// newGitHubServer returns the stand-ins of the exchange at stsURL (whose
// host is the trust policy's default audience, as octo-sts's domain is)
// and of the API at apiURL.
func newGitHubServer(stsURL, apiURL, issuerURL string, v *tokenVerifier, l *ledger, ttl time.Duration, j *job) (*githubServer, error) {
	u, err := url.Parse(stsURL)
	if err != nil {
		return nil, err
	}
	repo := regexp.QuoteMeta(Repository)
	policy := &octoTrustPolicy{
		Issuer: issuerURL,
		// The GitHub and the GitLab subject of the devstack repository.
		SubjectPattern:  `repo:` + repo + `:.+|project_path:` + repo + `:.+`,
		AudiencePattern: regexp.QuoteMeta(u.Host) + `|` + regexp.QuoteMeta(Audience),
		Permissions:     map[string]string{"contents": "read", "metadata": "read"},
	}
	if err := policy.compile(); err != nil {
		return nil, err
	}
	return &githubServer{
		apiURL:   apiURL,
		domain:   u.Host,
		verifier: v,
		ledger:   l,
		ttl:      ttl,
		job:      j,
		policies: map[string]*octoTrustPolicy{Repository + "/" + GitHubIdentity: policy},
	}, nil
}

// setPolicy parses a trust policy as octo-sts reads it from
// .github/chainguard/IDENTITY.sts.yaml in scope's repository (an
// organisation scope: its .github repository) and serves it from now on.
func (g *githubServer) setPolicy(scope, identity string, src []byte) error {
	owner, repo := path.Dir(scope), path.Base(scope)
	org := owner == "."
	if org {
		owner, repo = scope, ".github"
	}
	if owner != RepositoryOwner || (!org && repo != repositoryName) {
		return fmt.Errorf("no installation found for %q: the stand-in's app is installed on %s only", scope, Repository)
	}
	if !githubIdentityName.MatchString(identity) {
		return fmt.Errorf("identity %q is not a policy name", identity)
	}
	p, err := parseOctoPolicy(src, org)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.policies[owner+"/"+repo+"/"+identity] = p
	g.mu.Unlock()
	return nil
}

var githubIdentityName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// requestedPermissions reads the permissions[NAME]=LEVEL parameters of an
// exchange request.
func requestedPermissions(form url.Values) map[string]string {
	out := map[string]string{}
	for k, vs := range form {
		if name, ok := strings.CutPrefix(k, "permissions["); ok && strings.HasSuffix(name, "]") && len(vs) > 0 {
			out[strings.TrimSuffix(name, "]")] = vs[len(vs)-1]
		}
	}
	return out
}

// exchangeRoutes is octo-sts: /sts/exchange and nothing else.
func (g *githubServer) exchangeRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sts/exchange", g.exchange)
	mux.HandleFunc("POST /sts/exchange", g.exchange)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		octoError(w, http.StatusNotFound, grpcNotFound, "Not Found")
	})
	return mux
}

// apiRoutes is the GitHub REST API as an installation token sees it:
// DELETE /installation/token and GET /installation/repositories.
func (g *githubServer) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /installation/token", g.revoke)
	mux.HandleFunc("GET /installation/repositories", g.repositories)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": githubDocsURL, "status": "404"})
	})
	return mux
}

// octoError writes the error body of octo-sts's gRPC gateway.
func octoError(w http.ResponseWriter, status, code int, format string, args ...any) {
	writeJSON(w, status, map[string]any{"code": code, "message": fmt.Sprintf(format, args...), "details": []any{}})
}

// exchange is octo-sts's GET /sts/exchange?scope=org/repo&identity=name
// with the job's OIDC token as bearer → {"token":"ghs_…"}, checked in
// octo-sts's order with its messages and status codes.
func (g *githubServer) exchange(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values("Authorization")) != 1 {
		octoError(w, http.StatusUnauthorized, grpcUnauthenticated, "expected exactly one authorization header")
		return
	}
	bearer := bearerToken(r, "Bearer")
	if bearer == "" {
		octoError(w, http.StatusBadRequest, grpcInvalidArgument, "invalid bearer token")
		return
	}
	tok, err := g.verifier.verify(bearer, time.Now(), 0)
	switch {
	case err == nil:
	case errors.Is(err, errTokenMalformed):
		octoError(w, http.StatusBadRequest, grpcInvalidArgument, "invalid bearer token")
		return
	case errors.Is(err, errTokenIssuer):
		// octo-sts fetches discovery for any issuer; this one knows only its own.
		octoError(w, http.StatusBadRequest, grpcInvalidArgument, "unable to fetch or create the provider")
		return
	default:
		octoError(w, http.StatusUnauthorized, grpcUnauthenticated, "unable to verify bearer token")
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		octoError(w, http.StatusBadRequest, grpcInvalidArgument, "invalid request: %v", err)
		return
	}
	scope, identity := r.Form.Get("scope"), r.Form.Get("identity")
	if scope == "" || identity == "" {
		octoError(w, http.StatusBadRequest, grpcInvalidArgument, "scope and identity are required")
		return
	}
	owner, repo := path.Dir(scope), path.Base(scope)
	if owner == "." {
		owner, repo = scope, ".github" // an org scope: the org's policy repository
	}
	if owner != RepositoryOwner {
		octoError(w, http.StatusNotFound, grpcNotFound, "no installation found for %q", owner)
		return
	}
	g.mu.Lock()
	policy, ok := g.policies[owner+"/"+repo+"/"+identity]
	g.mu.Unlock()
	if !ok {
		octoError(w, http.StatusNotFound, grpcNotFound, "unable to find trust policy for %q", identity)
		return
	}
	if msg := policy.check(tok, g.domain); msg != "" {
		octoError(w, http.StatusForbidden, grpcPermissionDenied, "%s", msg)
		return
	}
	// A request may narrow the token below what the policy grants (the
	// installation token API's permissions and repositories), never widen
	// it: more is refused with the reason.
	permissions, msg := policy.narrow(requestedPermissions(r.Form))
	if msg != "" {
		octoError(w, http.StatusForbidden, grpcPermissionDenied, "%s", msg)
		return
	}
	reachable := []string{repo}
	if repo == ".github" {
		reachable = policy.Repositories
		if len(reachable) == 0 {
			reachable = []string{repositoryName} // every repository the app is installed on
		}
	}
	repositories := reachable
	if asked := r.Form["repositories"]; len(asked) > 0 {
		for _, name := range asked {
			if !slices.Contains(reachable, name) {
				octoError(w, http.StatusForbidden, grpcPermissionDenied, "trust policy: repository %q is not among those the trust policy reaches (%s)", name, strings.Join(reachable, ", "))
				return
			}
		}
		repositories = slices.Compact(slices.Sorted(slices.Values(asked)))
	}

	token := "ghs_" + randomString(36, alnumChars)
	now := time.Now()
	g.mu.Lock()
	g.issued++
	id := "installation-token-" + strconv.Itoa(g.issued)
	g.mu.Unlock()
	g.ledger.recordRestricted(ProviderGitHub, id, token, now, now.Add(g.ttl), map[string]any{"permissions": permissions, "repositories": repositories})
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// installationToken resolves the request's installation token; GitHub
// accepts both "Bearer" and "token" schemes.
func (g *githubServer) installationToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	token := bearerToken(r, "Bearer", "token")
	if token == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Requires authentication", "documentation_url": githubDocsURL, "status": "401"})
		return "", false
	}
	if _, state := g.ledger.check(ProviderGitHub, token, time.Now()); state != credentialValid {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": githubDocsURL, "status": "401"})
		return "", false
	}
	return token, true
}

// revoke is DELETE /installation/token → 204.
func (g *githubServer) revoke(w http.ResponseWriter, r *http.Request) {
	token, ok := g.installationToken(w, r)
	if !ok {
		return
	}
	if !g.ledger.revoke(ProviderGitHub, token, time.Now()) {
		// Lost a race with another revoke or with expiry.
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": githubDocsURL, "status": "401"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// repositories is GET /installation/repositories: the repositories the
// token can reach, so callers can prove a token works (and then doesn't).
func (g *githubServer) repositories(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.installationToken(w, r); !ok {
		return
	}
	repoID, _ := strconv.ParseInt(g.job.repositoryID, 10, 64)
	ownerID, _ := strconv.ParseInt(g.job.ownerID, 10, 64)
	writeJSON(w, http.StatusOK, map[string]any{
		"total_count":          1,
		"repository_selection": "selected",
		"repositories": []map[string]any{{
			"id":             repoID,
			"name":           repositoryName,
			"full_name":      Repository,
			"private":        true,
			"visibility":     "private",
			"default_branch": defaultBranch,
			"html_url":       githubServerURL + "/" + Repository,
			"url":            g.apiURL + "/repos/" + Repository,
			"owner":          map[string]any{"login": RepositoryOwner, "id": ownerID, "type": "Organization"},
		}},
	})
}
