// Package provider defines the contract every credential provider meets:
// issue a grant for one declared scope from the job's OIDC identity, and
// revoke it when the job ends. Each provider lives in its own sub-package
// and imports only this one.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotRevocable is returned by Revoke when the credential type has no
// revocation API (AWS STS, GCP, Entra): its exposure is bounded by expiry.
var ErrNotRevocable = errors.New("credential is not revocable; bounded by expiry")

// Provider issues and revokes the credentials of one scope.
type Provider interface {
	// Describe says what the provider will ask for, before anything is issued.
	Describe() Description
	// Issue exchanges an OIDC token from tokens for a short-lived grant.
	Issue(ctx context.Context, tokens TokenSource) (*Grant, error)
	// Revoke invalidates the grant at its issuer. It returns
	// ErrNotRevocable when no such API exists.
	Revoke(ctx context.Context, g *Grant) error
}

// TokenSource mints (or returns a cached) OIDC token for an audience.
type TokenSource interface {
	Token(ctx context.Context, audience string) (string, error)
}

// Description names the provider and the principal a scope asks for.
type Description struct {
	Provider  string // "vault", "github", ...
	Principal string // role, role ARN, or identity the credential acts as
	Audience  string // OIDC audience the exchange presents
	Endpoint  string // issuer of the credential (no secrets)
	// Lifetime is how long the credential will live, when the scope states
	// it or the issuer fixes it; 0 when the issuer decides (a Vault role's
	// TTL, say).
	Lifetime time.Duration
}

// Grant is one issued credential set.
type Grant struct {
	Principal   string
	SessionName string
	// Fingerprint is the hex SHA-256 of the primary credential, which is how
	// the issuer's own audit log can be matched against the attestation.
	Fingerprint string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	Revocable   bool
	// Values are handed to the job; every one of them is a secret.
	Values []Value
	// Private holds what Revoke needs (tokens, accessors). It is secret,
	// persisted only in the 0600 state file and never attested.
	Private map[string]string
	// Restrictions narrow the grant below its principal; nil when nothing
	// does. They are attested.
	Restrictions *Restrictions `json:",omitempty"`
}

// Restrictions narrow a grant below what its principal may do: what the
// scope asked the issuer for, or, where the issuer states it, what it
// granted. Each field belongs to the providers named. They are attested,
// so they never hold a secret.
type Restrictions struct {
	SessionPolicy string            `json:",omitempty"` // aws: the inline session policy (JSON)
	PolicyARNs    []string          `json:",omitempty"` // aws: managed session policies
	Permissions   map[string]string `json:",omitempty"` // github: permission → read | write | admin
	Repositories  []string          `json:",omitempty"` // github: repository names
	Policies      []string          `json:",omitempty"` // vault: the token's policies
	Scopes        []string          `json:",omitempty"` // gcp, token-exchange: OAuth scopes
	Resource      string            `json:",omitempty"` // token-exchange: the target resource URI
}

// Value is one credential value with the name the job sees it under
// (an environment variable name, or a file name for file delivery).
type Value struct {
	Name   string
	Secret string
	// Kind says what the value is, so the local endpoint can serve it in
	// the shape SDKs expect; "" for plain secrets (KV reads).
	Kind string
}

// Value kinds understood by the local credential endpoint.
const (
	KindAWSAccessKeyID     = "aws-access-key-id"
	KindAWSSecretAccessKey = "aws-secret-access-key"
	KindAWSSessionToken    = "aws-session-token"
	KindAccessToken        = "access-token" // OAuth bearer (GCP, Azure, token exchange)
	KindGitHubToken        = "github-token"
	KindVaultToken         = "vault-token"
)

// Find returns the first value of a kind.
func (g *Grant) Find(kind string) (Value, bool) {
	for _, v := range g.Values {
		if v.Kind == kind {
			return v, true
		}
	}
	return Value{}, false
}

// CheckEnvName reports whether name (the config key is key) can be an
// environment variable name and a file name: letters, digits and '_', not
// starting with a digit.
func CheckEnvName(key, name string) error {
	ok := name != ""
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%s %q is not a variable name", key, name)
	}
	return nil
}
