package devstack

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Services that accept injected faults (Stack.FailNext, Stack.InjectFaults).
const (
	ServiceIssuer        = "issuer"         // the Actions token endpoint, discovery and JWKS (not /devstack/)
	ServiceVault         = "vault"          // VaultAddr
	ServiceGitHub        = "github"         // GitHubSTSURL (the exchange) and GitHubAPIURL
	ServiceAWS           = "aws"            // STSURL
	ServiceGCPSTS        = "gcp-sts"        // GCPSTSURL
	ServiceGCPIAM        = "gcp-iam"        // GCPIAMURL
	ServiceTokenExchange = "token-exchange" // TokenExchangeURL, TokenRevocationURL, TokenResourceURL
	ServiceAzure         = "azure"          // AzureAuthorityURL
)

// Fault is one injected answer: the next request to the service gets this
// status with Message as the reason, in the service's own error format.
type Fault struct {
	Status  int
	Message string // default: "devstack: injected fault: <status text>"
	// Hang accepts the request and never answers it: the handler holds the
	// connection until the client goes away or the stack closes. Status
	// and Message are ignored.
	Hang bool
}

// faultWriter writes an error in one service's vocabulary.
type faultWriter func(w http.ResponseWriter, status int, message string)

// faults holds the pending injected answers of every service.
type faults struct {
	mu      sync.Mutex
	pending map[string][]Fault
	writers map[string]faultWriter
}

func newFaults() *faults {
	return &faults{pending: map[string][]Fault{}, writers: map[string]faultWriter{}}
}

// wrap serves the service's pending faults before h. Requests under
// /devstack/ (the devstack's own API) are never faulted.
func (f *faults) wrap(service string, write faultWriter, h http.Handler) http.Handler {
	f.mu.Lock()
	f.writers[service] = write
	f.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/devstack/") {
			h.ServeHTTP(w, r)
			return
		}
		fault, ok := f.next(service)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if fault.Hang {
			<-r.Context().Done()
			return
		}
		// Drain (bounded) so the client is not reset mid-request.
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBodyBytes))
		write(w, fault.Status, fault.Message)
	})
}

func (f *faults) next(service string) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.pending[service]
	if len(q) == 0 {
		return Fault{}, false
	}
	f.pending[service] = q[1:]
	return q[0], true
}

func (f *faults) add(service string, fs []Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.writers[service]; !ok {
		return fmt.Errorf("devstack: no service %q accepts faults (issuer, vault, github, aws, gcp-sts, gcp-iam, token-exchange, azure)", service)
	}
	for _, ft := range fs {
		if !ft.Hang && (ft.Status < 400 || ft.Status > 599) {
			return fmt.Errorf("devstack: fault status %d is not an error status (400-599)", ft.Status)
		}
	}
	for _, ft := range fs {
		if ft.Message == "" && !ft.Hang {
			ft.Message = "devstack: injected fault: " + http.StatusText(ft.Status)
		}
		f.pending[service] = append(f.pending[service], ft)
	}
	return nil
}

// FailNext makes the next len(statuses) requests to service answer with
// those statuses, in order, in the service's error format; later requests
// are served normally. It is for tests of retries (500, 503 then success)
// and of fast failure (a 403 carrying a message). Faults queue up across
// calls. service is one of the Service* constants.
func (s *Stack) FailNext(service string, statuses ...int) error {
	fs := make([]Fault, len(statuses))
	for i, st := range statuses {
		fs[i] = Fault{Status: st}
	}
	return s.faults.add(service, fs)
}

// InjectFaults is FailNext with a message per fault.
func (s *Stack) InjectFaults(service string, faults ...Fault) error {
	return s.faults.add(service, faults)
}

// oauthErrorCode is the RFC 6749 error code that best fits an injected
// status.
func oauthErrorCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusForbidden:
		return "access_denied"
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request"
}

// Fault writers of the services that existed before faults.
func issuerFault(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func vaultFault(w http.ResponseWriter, status int, msg string) { vaultError(w, status, msg) }

func githubFault(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg, "documentation_url": githubDocsURL, "status": fmt.Sprint(status)})
}

func stsFault(w http.ResponseWriter, status int, msg string) {
	code := "InvalidRequest"
	switch {
	case status == http.StatusForbidden:
		code = "AccessDenied"
	case status == http.StatusTooManyRequests:
		code = "Throttling"
	case status == http.StatusServiceUnavailable:
		code = "ServiceUnavailable"
	case status >= 500:
		code = "InternalFailure"
	}
	writeSTSError(w, status, code, "%s", msg)
}
