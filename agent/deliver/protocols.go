package deliver

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chaperone-ci/chaperone/agent/provider"
)

// serveAWS answers the AWS SDKs' container credentials provider. The SDK
// sends the token verbatim (no scheme) in Authorization.
func (e *Endpoint) serveAWS(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(r, "") {
		writeError(w, http.StatusUnauthorized, "AccessDenied", "missing or wrong authorization token")
		return
	}
	scope := r.PathValue("scope")
	if _, ok := e.route(func(rt Route) bool { return rt.Scope == scope && rt.Provider == "aws" }); !ok {
		writeError(w, http.StatusNotFound, "NotFound", "no aws scope "+scope+" is served here")
		return
	}
	g, ok := e.grant(w, r, scope, "aws")
	if !ok {
		return
	}
	id, _ := g.Find(provider.KindAWSAccessKeyID)
	secret, _ := g.Find(provider.KindAWSSecretAccessKey)
	session, _ := g.Find(provider.KindAWSSessionToken)
	if id.Secret == "" || secret.Secret == "" {
		writeError(w, http.StatusBadGateway, "CredentialUnavailable", "scope "+scope+" holds no AWS keys")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"AccessKeyId":     id.Secret,
		"SecretAccessKey": secret.Secret,
		"Token":           session.Secret,
		"Expiration":      g.ExpiresAt.UTC().Format(time.RFC3339),
	})
}

// serveGCE emulates the parts of the GCE metadata server that Google's
// client libraries use for credentials. Like the real server it needs no
// token but insists on the Metadata-Flavor header; like every route, it
// serves only processes of the job's user.
func (e *Endpoint) serveGCE(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Metadata-Flavor", "Google")
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
		return
	}
	rt, ok := e.route(func(rt Route) bool { return rt.Provider == "gcp" })
	if !ok {
		http.NotFound(w, r)
		return
	}
	suffix := strings.TrimPrefix(r.URL.Path, "/computeMetadata/v1/")
	switch suffix {
	case "", "instance/", "project/":
		w.Header().Set("Content-Type", "application/text")
		_, _ = w.Write([]byte("ok\n"))
	case "project/project-id":
		writeText(w, rt.Project)
	case "instance/service-accounts/default/email", "instance/service-accounts/" + rt.ServiceAccount + "/email":
		writeText(w, rt.ServiceAccount)
	case "instance/service-accounts/default/scopes":
		writeText(w, "https://www.googleapis.com/auth/cloud-platform")
	case "instance/service-accounts/default/token", "instance/service-accounts/" + rt.ServiceAccount + "/token":
		g, ok := e.grant(w, r, rt.Scope, "gce")
		if !ok {
			return
		}
		tok, ok := g.Find(provider.KindAccessToken)
		if !ok {
			writeError(w, http.StatusBadGateway, "CredentialUnavailable", "scope "+rt.Scope+" holds no access token")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok.Secret, "expires_in": expiresIn(g.ExpiresAt), "token_type": "Bearer"})
	default:
		http.NotFound(w, r)
	}
}

func writeText(w http.ResponseWriter, s string) {
	if s == "" {
		http.Error(w, "not defined", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/text")
	_, _ = w.Write([]byte(s))
}

// bearerValue is the token a route hands to docker and git: the GitHub or
// OAuth token of the grant.
func bearerValue(g *provider.Grant) (string, bool) {
	for _, kind := range []string{provider.KindGitHubToken, provider.KindAccessToken, provider.KindVaultToken} {
		if v, ok := g.Find(kind); ok {
			return v.Secret, true
		}
	}
	return "", false
}

// serveDocker answers docker-credential-chaperone get.
func (e *Endpoint) serveDocker(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(r, "Bearer") {
		writeError(w, http.StatusUnauthorized, "AccessDenied", "missing or wrong authorization token")
		return
	}
	server := r.URL.Query().Get("server")
	host := registryHost(server)
	rt, ok := e.route(func(rt Route) bool { return containsFold(rt.Registries, host) })
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "credentials not found in native keychain")
		return
	}
	g, ok := e.grant(w, r, rt.Scope, "docker")
	if !ok {
		return
	}
	tok, ok := bearerValue(g)
	if !ok {
		writeError(w, http.StatusBadGateway, "CredentialUnavailable", "scope "+rt.Scope+" holds no token")
		return
	}
	user := rt.Username
	if user == "" {
		user = "x-access-token"
	}
	writeJSON(w, http.StatusOK, map[string]string{"ServerURL": server, "Username": user, "Secret": tok})
}

// serveGit answers git-credential-chaperone get.
func (e *Endpoint) serveGit(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(r, "Bearer") {
		writeError(w, http.StatusUnauthorized, "AccessDenied", "missing or wrong authorization token")
		return
	}
	host := r.URL.Query().Get("host")
	rt, ok := e.route(func(rt Route) bool { return containsFold(rt.GitHosts, host) })
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "no scope serves git host "+host)
		return
	}
	g, ok := e.grant(w, r, rt.Scope, "git")
	if !ok {
		return
	}
	tok, ok := bearerValue(g)
	if !ok {
		writeError(w, http.StatusBadGateway, "CredentialUnavailable", "scope "+rt.Scope+" holds no token")
		return
	}
	out := map[string]any{"username": "x-access-token", "password": tok}
	if !g.ExpiresAt.IsZero() {
		out["password_expiry_utc"] = g.ExpiresAt.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// registryHost reduces what docker passes ("https://ghcr.io", "ghcr.io/v2/")
// to the host.
func registryHost(server string) string {
	s := server
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return server
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
