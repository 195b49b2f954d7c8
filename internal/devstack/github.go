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

// octoTrustPolicy is an octo-sts trust policy (.github/chainguard/<id>.sts.yaml):
// issuer exact, subject and audience as anchored patterns.
type octoTrustPolicy struct {
	issuer          string
	subjectPattern  *regexp.Regexp
	audiencePattern *regexp.Regexp
	permissions     map[string]string
}

// githubServer stands in for octo-sts (the exchange) and for the part of the
// GitHub REST API that uses and revokes installation tokens. They are two
// hosts, as in reality: exchangeRoutes and apiRoutes are served on
// different listeners, so a client that revokes at the exchange's host
// fails as it would against octo-sts.
type githubServer struct {
	apiURL   string
	verifier *tokenVerifier
	ledger   *ledger
	ttl      time.Duration
	job      *job
	policies map[string]octoTrustPolicy // by repository "/" identity

	mu     sync.Mutex
	issued int
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
	policy := octoTrustPolicy{
		issuer: issuerURL,
		// The GitHub and the GitLab subject of the devstack repository.
		subjectPattern:  regexp.MustCompile(`^(?:repo:` + repo + `:.+|project_path:` + repo + `:.+)$`),
		audiencePattern: regexp.MustCompile(`^(?:` + regexp.QuoteMeta(u.Host) + `|` + regexp.QuoteMeta(Audience) + `)$`),
		permissions:     map[string]string{"contents": "read", "metadata": "read"},
	}
	return &githubServer{
		apiURL:   apiURL,
		verifier: v,
		ledger:   l,
		ttl:      ttl,
		job:      j,
		policies: map[string]octoTrustPolicy{Repository + "/" + GitHubIdentity: policy},
	}, nil
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
	policy, ok := g.policies[owner+"/"+repo+"/"+identity]
	if !ok {
		octoError(w, http.StatusNotFound, grpcNotFound, "unable to find trust policy for %q", identity)
		return
	}
	if msg := policy.check(tok); msg != "" {
		octoError(w, http.StatusForbidden, grpcPermissionDenied, "%s", msg)
		return
	}

	token := "ghs_" + randomString(36, alnumChars)
	now := time.Now()
	g.mu.Lock()
	g.issued++
	id := "installation-token-" + strconv.Itoa(g.issued)
	g.mu.Unlock()
	g.ledger.record(ProviderGitHub, id, token, now, now.Add(g.ttl))
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// check returns octo-sts's refusal message, or "" if the token satisfies
// the policy.
func (p octoTrustPolicy) check(tok *verifiedToken) string {
	if tok.issuer != p.issuer {
		return fmt.Sprintf("trust policy: issuer %q did not match %q", tok.issuer, p.issuer)
	}
	if !p.subjectPattern.MatchString(tok.subject) {
		return fmt.Sprintf("trust policy: subject %q did not match pattern %q", tok.subject, p.subjectPattern.String())
	}
	if !slices.ContainsFunc(tok.audience, p.audiencePattern.MatchString) {
		return fmt.Sprintf("trust policy: audience_pattern %q did not match any of %q", p.audiencePattern.String(), tok.audience)
	}
	return ""
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
