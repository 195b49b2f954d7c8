package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// Options configures a Stack. The zero value is usable.
type Options struct {
	// Platform is what the environment and the default token claims look
	// like: PlatformGitHub (default) or PlatformGitLab.
	Platform string
	// TokenTTL is the lifetime of the OIDC tokens the issuer mints
	// (default 5m, like GitHub's).
	TokenTTL time.Duration
	// VaultTokenTTL is the lifetime of Vault client tokens (default 1h).
	VaultTokenTTL time.Duration
	// GitHubTokenTTL is the lifetime of installation tokens (default 1h).
	GitHubTokenTTL time.Duration
	// CredentialTTL, when positive, caps the lifetime of every credential
	// the AWS, GCP, token-exchange and Azure stand-ins issue, whatever the
	// client asked for (the response states the capped expiry). Real
	// services never issue less than asked (STS's floor is 15 minutes), so
	// this exists for tests of renewal in long jobs. Default: no cap.
	CredentialTTL time.Duration
	// AllProviders adds aws, gcp, token-exchange and azure scopes to the
	// generated config (ConfigPath). Without it the config has the vault
	// and github scopes only.
	AllProviders bool
	// Dir receives the generated files (config, signing key). It is created
	// if missing and left in place by Close. Default: a new temporary
	// directory that Close removes.
	Dir string
}

// Stack is a running set of stand-ins. Its exported fields describe where
// they listen and what they wrote; they are set by Start and must not be
// changed. All methods are safe for concurrent use.
type Stack struct {
	// URL is the base URL of the issuer, the Actions token endpoint and the
	// devstack API (/devstack/token, /devstack/credentials).
	URL string
	// IssuerURL is the iss of every minted token (equal to URL); discovery
	// is at IssuerURL + "/.well-known/openid-configuration".
	IssuerURL string
	// VaultAddr is the Vault stand-in's address (VAULT_ADDR).
	VaultAddr string
	// GitHubSTSURL is the base of the octo-sts exchange stand-in (as
	// https://octo-sts.dev): GET or POST /sts/exchange, and nothing else.
	GitHubSTSURL string
	// GitHubAPIURL is the base of the GitHub API stand-in (as
	// https://api.github.com, GITHUB_API_URL): DELETE /installation/token
	// and GET /installation/repositories. It is another host than
	// GitHubSTSURL, as the real API is.
	GitHubAPIURL string
	// STSURL is the AWS STS endpoint (an endpoint URL for the SDKs and CLI).
	STSURL string
	// GCPSTSURL is the base of the Google STS stand-in (as
	// https://sts.googleapis.com): POST /v1/token, and GET /tokeninfo as
	// oauth2.googleapis.com serves it.
	GCPSTSURL string
	// GCPIAMURL is the base of the IAM Service Account Credentials stand-in
	// (as https://iamcredentials.googleapis.com):
	// POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken.
	GCPIAMURL string
	// TokenExchangeURL is the RFC 8693 token endpoint of a generic OAuth
	// authorization server (metadata at its origin +
	// /.well-known/oauth-authorization-server).
	TokenExchangeURL string
	// TokenRevocationURL is that server's RFC 7009 revocation endpoint.
	TokenRevocationURL string
	// TokenResourceURL is a protected resource of that server: GET with
	// a live access token as bearer → 200, otherwise 401 invalid_token.
	TokenResourceURL string
	// AzureAuthorityURL is the Entra ID stand-in's authority (as
	// https://login.microsoftonline.com): POST /{tenant}/oauth2/v2.0/token.
	// The same listener answers Azure Resource Manager's GET /subscriptions.
	AzureAuthorityURL string
	// Registry is the OCI registry's host:port (plain HTTP).
	Registry string

	// Dir holds the generated files.
	Dir string
	// SigningKeyPath is an ECDSA P-256 private key, PEM PKCS#8, mode 0600.
	SigningKeyPath string
	// PublicKeyPath is its PEM public key.
	PublicKeyPath string
	// ConfigPath is a chaperone config using the served providers.
	ConfigPath string

	platform      string
	job           *job
	ledger        *ledger
	issuer        *issuer
	vault         *vaultServer
	github        *githubServer
	oauth         *oauthServer
	faults        *faults
	gitlabIDToken string
	servers       []*http.Server
	listeners     []net.Listener
	removeDir     bool

	closeOnce sync.Once
	closeErr  error
}

// Start generates fresh keys, secrets and run ids, starts every stand-in
// on its own 127.0.0.1 listener and writes the generated files. ctx bounds
// the start only; the stack runs until Close.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Platform == "" {
		opts.Platform = PlatformGitHub
	}
	if opts.Platform != PlatformGitHub && opts.Platform != PlatformGitLab {
		return nil, fmt.Errorf("devstack: unknown platform %q (want %q or %q)", opts.Platform, PlatformGitHub, PlatformGitLab)
	}
	for _, d := range []*time.Duration{&opts.TokenTTL, &opts.VaultTokenTTL, &opts.GitHubTokenTTL, &opts.CredentialTTL} {
		if *d < 0 {
			return nil, fmt.Errorf("devstack: negative TTL %v", *d)
		}
	}
	if opts.CredentialTTL > 0 && opts.CredentialTTL < time.Second {
		return nil, fmt.Errorf("devstack: CredentialTTL %v is under a second, which expires_in cannot express", opts.CredentialTTL)
	}
	opts.TokenTTL = orDefault(opts.TokenTTL, 5*time.Minute)
	opts.VaultTokenTTL = orDefault(opts.VaultTokenTTL, time.Hour)
	opts.GitHubTokenTTL = orDefault(opts.GitHubTokenTTL, time.Hour)

	s := &Stack{platform: opts.Platform, job: newJob(), ledger: newLedger(), faults: newFaults()}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.Dir, s.removeDir, err = prepareDir(opts.Dir); err != nil {
		return nil, err
	}

	// One listener per service, as the real services have distinct hosts.
	var issuerLn, vaultLn, githubSTSLn, githubAPILn, stsLn, gcpSTSLn, gcpIAMLn, oauthLn, azureLn, registryLn net.Listener
	for _, ln := range []*net.Listener{&issuerLn, &vaultLn, &githubSTSLn, &githubAPILn, &stsLn, &gcpSTSLn, &gcpIAMLn, &oauthLn, &azureLn, &registryLn} {
		if *ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("devstack: listen: %w", err)
		}
		defer func(l net.Listener) {
			if err != nil { // servers own the listeners once Start succeeds
				l.Close()
			}
		}(*ln)
	}
	s.URL = "http://" + issuerLn.Addr().String()
	s.IssuerURL = s.URL
	s.VaultAddr = "http://" + vaultLn.Addr().String()
	s.GitHubSTSURL = "http://" + githubSTSLn.Addr().String()
	s.GitHubAPIURL = "http://" + githubAPILn.Addr().String()
	s.STSURL = "http://" + stsLn.Addr().String()
	s.GCPSTSURL = "http://" + gcpSTSLn.Addr().String()
	s.GCPIAMURL = "http://" + gcpIAMLn.Addr().String()
	oauthURL := "http://" + oauthLn.Addr().String()
	s.TokenExchangeURL = oauthURL + oauthTokenPath
	s.TokenRevocationURL = oauthURL + oauthRevokePath
	s.TokenResourceURL = oauthURL + oauthResourcePath
	s.AzureAuthorityURL = "http://" + azureLn.Addr().String()
	s.Registry = registryLn.Addr().String()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.issuer, err = newIssuer(s.IssuerURL, s.platform, opts.TokenTTL, s.job); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	verifier := s.issuer.verifier()
	s.vault = newVaultServer(s.VaultAddr, s.IssuerURL, s.platform, verifier, s.ledger, opts.VaultTokenTTL)
	github, err := newGitHubServer(s.GitHubSTSURL, s.GitHubAPIURL, s.IssuerURL, verifier, s.ledger, opts.GitHubTokenTTL, s.job)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.github = github
	sts := newSTSServer(s.IssuerURL, verifier, s.ledger, opts.CredentialTTL)
	gcp := newGCPServer(s.IssuerURL, verifier, s.ledger, opts.CredentialTTL)
	s.oauth = newOAuthServer(oauthURL, verifier, s.ledger, opts.CredentialTTL)
	azure, err := newAzureServer(s.IssuerURL, verifier, s.ledger, opts.CredentialTTL, s.job)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}

	s.SigningKeyPath = filepath.Join(s.Dir, signingKeyFile)
	s.PublicKeyPath = filepath.Join(s.Dir, publicKeyFile)
	s.ConfigPath = filepath.Join(s.Dir, configFile)
	if err := writeSigningKey(s.SigningKeyPath, s.PublicKeyPath); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	if err := atomicfile.Write(s.ConfigPath, s.generatedConfig(opts.AllProviders), 0o644); err != nil {
		return nil, fmt.Errorf("devstack: writing config: %w", err)
	}
	if s.platform == PlatformGitLab {
		if s.gitlabIDToken, err = s.MintToken(PlatformGitLab, Audience); err != nil {
			return nil, err
		}
	}

	quiet := log.New(io.Discard, "", 0)
	f := s.faults
	s.serve(issuerLn, f.wrap(ServiceIssuer, issuerFault, s.issuerRoutes()), apiTimeout)
	s.serve(vaultLn, f.wrap(ServiceVault, vaultFault, s.vault), apiTimeout)
	// ServiceGitHub's faults go to whichever of the exchange and the API is
	// asked next.
	s.serve(githubSTSLn, f.wrap(ServiceGitHub, githubFault, github.exchangeRoutes()), apiTimeout)
	s.serve(githubAPILn, f.wrap(ServiceGitHub, githubFault, github.apiRoutes()), apiTimeout)
	s.serve(stsLn, f.wrap(ServiceAWS, stsFault, sts), apiTimeout)
	s.serve(gcpSTSLn, f.wrap(ServiceGCPSTS, gcpSTSFault, gcp.stsRoutes()), apiTimeout)
	s.serve(gcpIAMLn, f.wrap(ServiceGCPIAM, gcpIAMFault, gcp.iamRoutes()), apiTimeout)
	s.serve(oauthLn, f.wrap(ServiceTokenExchange, oauthFault, s.oauth.routes()), apiTimeout)
	s.serve(azureLn, f.wrap(ServiceAzure, azureFault, azure.routes()), apiTimeout)
	s.serve(registryLn, registry.New(registry.Logger(quiet), registry.WithReferrersSupport(true)), registryTimeout)
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// prepareDir returns the directory for generated files and whether Close
// should remove it.
func prepareDir(dir string) (string, bool, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chaperone-devstack-")
		if err != nil {
			return "", false, fmt.Errorf("devstack: %w", err)
		}
		return tmp, true, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("devstack: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("devstack: %w", err)
	}
	return abs, false, nil
}

// Read and write timeouts bound slow or stuck clients. The registry's are
// longer because image layers can be large.
const (
	apiTimeout      = 30 * time.Second
	registryTimeout = 10 * time.Minute
)

// serve runs h on ln until Close.
func (s *Stack) serve(ln net.Listener, h http.Handler, timeout time.Duration) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, ln)
	go func() { _ = srv.Serve(ln) }() // returns http.ErrServerClosed on Close
}

// issuerRoutes is the mux of URL: OIDC discovery, JWKS, the Actions token
// endpoint and the devstack API.
func (s *Stack) issuerRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+discoveryPath, s.issuer.discovery)
	mux.HandleFunc("GET "+jwksPath, s.issuer.jwks)
	mux.HandleFunc(actionsTokenPath, s.issuer.actionsToken)
	mux.HandleFunc("/devstack/token", s.mintHandler)
	mux.HandleFunc("/devstack/credentials", s.credentialsHandler)
	mux.HandleFunc("/devstack/octo-sts/trust-policy", s.trustPolicyHandler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	})
	return mux
}

// mintHandler is POST /devstack/token?platform=github|gitlab&aud=A →
// {"value": JWT}. It needs no credential: it is a loopback development
// tool, and GitLab mode has no token endpoint to stand in for.
func (s *Stack) mintHandler(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	token, err := s.MintToken(r.Form.Get("platform"), r.Form.Get("aud"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"value": token})
}

// trustPolicyHandler is PUT /devstack/octo-sts/trust-policy?scope=S&identity=I
// with a trust policy's YAML as the body → 204, or 400 with why it was
// refused: it stands in for committing .github/chainguard/I.sts.yaml to
// the repository (or organisation) S.
func (s *Stack) trustPolicyHandler(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodPut) {
		return
	}
	body, err := readBody(w, r)
	if err == nil {
		err = s.SetGitHubTrustPolicy(r.URL.Query().Get("scope"), r.URL.Query().Get("identity"), body)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SetGitHubTrustPolicy makes the octo-sts stand-in serve policy (the YAML
// of a trust policy, checked as octo-sts checks it) for exchanges with
// scope (Repository, or RepositoryOwner for an organisation policy) and
// identity, as if it were committed as .github/chainguard/IDENTITY.sts.yaml.
// It replaces the policy of that name, the built-in GitHubIdentity's too.
func (s *Stack) SetGitHubTrustPolicy(scope, identity string, policy []byte) error {
	if err := s.github.setPolicy(scope, identity, policy); err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	return nil
}

// credentialsHandler is GET /devstack/credentials.
func (s *Stack) credentialsHandler(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Credential{"credentials": s.ledger.list()})
}

// MintToken signs a job token as POST /devstack/token does: platform ""
// means the stack's platform; audience "" means the platform's default
// (https://github.com/<owner> for GitHub, Audience for GitLab).
func (s *Stack) MintToken(platform, audience string) (string, error) {
	token, err := s.issuer.mint(mintRequest{platform: platform, audience: audience})
	if err != nil {
		return "", fmt.Errorf("devstack: %w", err)
	}
	return token, nil
}

// TokenRequest describes a job token for MintTokenWith.
type TokenRequest struct {
	// Platform is PlatformGitHub or PlatformGitLab; "" means the stack's.
	Platform string
	// Audience is the aud claim; "" means the platform's default.
	Audience string
	// IssuedAt is the iat claim (nbf and exp follow from it); zero means
	// now. A time more than Options.TokenTTL ago gives an expired token.
	IssuedAt time.Time
	// Claims are added to, or replace, the platform's claims (including
	// registered ones such as "sub" or "iss"): a token a real issuer would
	// sign for another repository, or one no trust policy accepts.
	Claims map[string]any
}

// MintTokenWith signs a job token as MintToken does, with the changes req
// asks for. It exists for tests of refusals: expired tokens, other
// subjects, other issuers (still signed with the devstack key).
func (s *Stack) MintTokenWith(req TokenRequest) (string, error) {
	token, err := s.issuer.mint(mintRequest{platform: req.Platform, audience: req.Audience, issuedAt: req.IssuedAt, extra: req.Claims})
	if err != nil {
		return "", fmt.Errorf("devstack: %w", err)
	}
	return token, nil
}

// TokenExchangeClientSecret is the secret of TokenExchangeClientID at the
// token-exchange stand-in (random per Start).
func (s *Stack) TokenExchangeClientSecret() string { return s.oauth.clientSecret }

// Secrets returns every secret value seeded into the stand-ins (the Vault
// KV fields, the string leaves of JSON-valued fields, the token exchange's
// client secret and the Vault root token), for tests that prove none of
// them leaked.
// Values are random per Start.
func (s *Stack) Secrets() []string {
	return append(s.vault.secrets(), s.oauth.clientSecret, s.vault.rootToken)
}

// Credentials returns the ledger of issued credentials, the same data as
// GET URL/devstack/credentials, in issue order.
func (s *Stack) Credentials() []Credential { return s.ledger.list() }

// Close stops every stand-in, waiting up to five seconds for requests in
// flight, and removes the temporary directory if Start created it. It is
// safe to call more than once; later calls return the first result.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, err, srv.Close())
			}
		}
		// Shutdown closes only the listeners whose Serve has started;
		// close the others here so no port outlives Close. (A second
		// close of a listener just reports net.ErrClosed.)
		for _, ln := range s.listeners {
			_ = ln.Close()
		}
		if s.removeDir && s.Dir != "" {
			errs = append(errs, os.RemoveAll(s.Dir))
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("devstack: close: %w", err)
		}
	})
	return s.closeErr
}
