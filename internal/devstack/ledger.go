package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Providers named in the ledger.
const (
	ProviderVault         = "vault"
	ProviderGitHub        = "github"
	ProviderAWS           = "aws"
	ProviderGCP           = "gcp"
	ProviderTokenExchange = "token-exchange"
	ProviderAzure         = "azure"
)

// Credential is one credential a stand-in issued, as recorded server-side.
// It never holds the credential's value.
type Credential struct {
	// Provider is one of the Provider* names: "vault", "github", "aws",
	// "gcp", "token-exchange" or "azure".
	Provider string `json:"provider"`
	// ID is the credential's public identifier: the Vault token accessor,
	// "installation-token-N" for GitHub, the AWS access key id,
	// "federated-token-N" or "access-token-N" for GCP (STS and
	// generateAccessToken), "exchanged-token-N" for the token exchange,
	// the token's uti claim for Azure.
	ID string `json:"id"`
	// Fingerprint is the lowercase hex SHA-256 of the credential value: the
	// Vault client token, the GitHub installation token, the AWS secret
	// access key, the access token of the others.
	Fingerprint string    `json:"fingerprint"`
	IssuedAt    time.Time `json:"issuedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	Revoked     bool      `json:"revoked"`
	// RevokedAt is null until the credential is revoked.
	RevokedAt *time.Time `json:"revokedAt"`
	// Restrictions is what narrowed the credential below its role or
	// trust policy, as the stand-in granted it: "permissions" (name →
	// level) and "repositories" for GitHub; "policies" for Vault;
	// "policy" (the inline session policy) and "policyArns" for AWS;
	// "scopes" for GCP; "scope", "resource" and "audience" for the token
	// exchange. Absent when nothing narrowed it.
	Restrictions map[string]any `json:"restrictions,omitempty"`
}

// credentialState is what a stand-in needs to know about a presented
// credential.
type credentialState int

const (
	credentialUnknown credentialState = iota
	credentialValid
	credentialExpired
	credentialRevoked
)

// fingerprint is the hex SHA-256 of a credential value.
func fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// ledger is the record of every credential issued, and the single source
// of truth for whether one is still valid. It is keyed by fingerprint, so
// it can answer for a presented value without storing any value.
type ledger struct {
	mu      sync.Mutex
	records []*Credential // in issue order
	byPrint map[string]*Credential
}

func newLedger() *ledger {
	return &ledger{byPrint: map[string]*Credential{}}
}

// record adds a freshly issued credential.
func (l *ledger) record(provider, id, value string, issuedAt, expiresAt time.Time) {
	l.recordRestricted(provider, id, value, issuedAt, expiresAt, nil)
}

// recordRestricted adds a freshly issued credential with what narrowed it
// (see Credential.Restrictions).
func (l *ledger) recordRestricted(provider, id, value string, issuedAt, expiresAt time.Time, restrictions map[string]any) {
	c := &Credential{
		Provider:     provider,
		ID:           id,
		Fingerprint:  fingerprint(value),
		IssuedAt:     issuedAt.UTC(),
		ExpiresAt:    expiresAt.UTC(),
		Restrictions: restrictions,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, c)
	l.byPrint[c.Fingerprint] = c
}

// check reports the state of a presented credential value at now, with its
// record (zero if unknown). The provider must match: a Vault token is not a
// GitHub token.
func (l *ledger) check(provider, value string, now time.Time) (Credential, credentialState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.byPrint[fingerprint(value)]
	switch {
	case !ok || c.Provider != provider:
		return Credential{}, credentialUnknown
	case c.Revoked:
		return *c, credentialRevoked
	case !now.Before(c.ExpiresAt):
		return *c, credentialExpired
	}
	return *c, credentialValid
}

// revoke marks a valid credential revoked at now and reports whether it
// was valid until then.
func (l *ledger) revoke(provider, value string, now time.Time) bool {
	return l.revokeFingerprint(provider, fingerprint(value), now)
}

// revokeFingerprint is revoke for the credential whose fingerprint is fp.
func (l *ledger) revokeFingerprint(provider, fp string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.byPrint[fp]
	if !ok || c.Provider != provider || c.Revoked || !now.Before(c.ExpiresAt) {
		return false
	}
	at := now.UTC()
	c.Revoked, c.RevokedAt = true, &at
	return true
}

// list returns a copy of every record in issue order.
func (l *ledger) list() []Credential {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Credential, 0, len(l.records))
	for _, c := range l.records {
		cp := *c
		if c.RevokedAt != nil {
			at := *c.RevokedAt
			cp.RevokedAt = &at
		}
		out = append(out, cp)
	}
	return out
}
