package attest

import "time"

// PredicateTypeJob is the predicate type of a chaperone job attestation.
const PredicateTypeJob = "https://chaperone.dev/attestation/job/v1"

// JobPredicate records which non-human identity did what in one CI job.
// It never holds a secret or raw log text: credentials appear only as
// SHA-256 fingerprints. The schema is in schema/job-v1.schema.json.
type JobPredicate struct {
	Agent     Agent     `json:"agent"`
	Platform  string    `json:"platform"` // github | gitlab | local
	Job       Job       `json:"job"`
	Identity  Identity  `json:"identity"`
	Grants    []Grant   `json:"grants"`
	Steps     []Step    `json:"steps"`
	Masking   Masking   `json:"masking"`
	Refused   []Refusal `json:"refused"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt"`
	Outcome   string    `json:"outcome"` // success | failure | agent-error
}

// Agent identifies the chaperone build that produced the attestation.
type Agent struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// Job describes the CI job the identity token was issued to.
type Job struct {
	RunURI            string `json:"runURI"`
	Repository        string `json:"repository,omitempty"`
	Ref               string `json:"ref,omitempty"`
	SHA               string `json:"sha,omitempty"`
	Workflow          string `json:"workflow,omitempty"`
	RunID             string `json:"runID,omitempty"`
	JobID             string `json:"jobID,omitempty"`
	Attempt           string `json:"attempt,omitempty"`
	RunnerEnvironment string `json:"runnerEnvironment,omitempty"`
}

// Identity is the OIDC identity the grants were exchanged from.
type Identity struct {
	Issuer      string            `json:"issuer"`
	Subject     string            `json:"subject"`
	Audiences   []string          `json:"audiences"`
	Claims      map[string]string `json:"claims,omitempty"`
	TokenSHA256 []string          `json:"tokenSHA256"`
}

// Grant is one credential issued for a declared scope.
type Grant struct {
	Scope       string     `json:"scope"`
	Provider    string     `json:"provider"`
	Principal   string     `json:"principal"`
	SessionName string     `json:"sessionName,omitempty"`
	Fingerprint string     `json:"credentialSHA256"`
	IssuedAt    time.Time  `json:"issuedAt"`
	ExpiresAt   time.Time  `json:"expiresAt,omitzero"`
	Delivery    string     `json:"delivery"` // env | file | endpoint
	Revocation  Revocation `json:"revocation"`
	Fetches     []Fetch    `json:"fetches,omitempty"`
	// Refreshes are the earlier credentials of this grant, replaced before
	// they expired (endpoint delivery renews grants in long jobs).
	Refreshes []Refresh `json:"refreshes,omitempty"`
	// Restrictions narrow the credential below what its principal may do;
	// nil when nothing did.
	Restrictions *Restrictions `json:"restrictions,omitempty"`
}

// Restrictions narrow a grant below what its principal (role, trust
// policy, service account) may do: what the scope asked the issuer for,
// or, where the issuer states it, what it granted. Each field belongs to
// the providers named; the credential's lifetime is its issuedAt to
// expiresAt. They hold no secret.
type Restrictions struct {
	// SessionPolicy is the inline session policy passed to STS (aws),
	// verbatim JSON.
	SessionPolicy string `json:"sessionPolicy,omitempty"`
	// PolicyARNs are the managed session policies passed to STS (aws).
	PolicyARNs []string `json:"policyArns,omitempty"`
	// Permissions are the installation token's permissions, name to
	// read, write or admin (github).
	Permissions map[string]string `json:"permissions,omitempty"`
	// Repositories are the repositories the token reaches, by name
	// (github).
	Repositories []string `json:"repositories,omitempty"`
	// Policies are the token's policies as the issuer states them (vault).
	Policies []string `json:"policies,omitempty"`
	// Scopes are the access token's OAuth scopes (gcp, token-exchange).
	Scopes []string `json:"scopes,omitempty"`
	// Resource is the URI of the service the token is for (token-exchange).
	Resource string `json:"resource,omitempty"`
}

// Refresh is a credential of a grant that a renewal replaced.
type Refresh struct {
	Fingerprint string      `json:"credentialSHA256"`
	IssuedAt    time.Time   `json:"issuedAt"`
	ExpiresAt   time.Time   `json:"expiresAt,omitzero"`
	Revocation  *Revocation `json:"revocation,omitempty"`
}

// Revocation outcomes.
const (
	RevocationRevoked = "revoked"
	RevocationExpiry  = "expiry"
	RevocationFailed  = "failed"
)

// Revocation is what happened to a grant at the end of the job.
type Revocation struct {
	Outcome   string     `json:"outcome"` // revoked | expiry | failed
	At        *time.Time `json:"at,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Fetch is one read of a credential from the local endpoint.
type Fetch struct {
	At         time.Time `json:"at"`
	Protocol   string    `json:"protocol,omitempty"` // aws | gce | docker | git
	PID        int       `json:"pid,omitempty"`
	Executable string    `json:"executable,omitempty"`
}

// Step is one command run under the agent.
type Step struct {
	Command    []string  `json:"command"`
	Stage      string    `json:"stage,omitempty"`
	ExitCode   int       `json:"exitCode"`
	StartedAt  time.Time `json:"startedAt"`
	EndedAt    time.Time `json:"endedAt"`
	Redactions int       `json:"redactions"`
	// Interrupted: the agent never saw the command end. ExitCode is -1 and
	// EndedAt is when the agent found the step unfinished.
	Interrupted bool `json:"interrupted,omitempty"`
	// EndedProcesses are processes the command left running, which the
	// agent ended before revoking the job's credentials.
	EndedProcesses []EndedProcess `json:"endedProcesses,omitempty"`
}

// EndedProcess is one left-behind process the agent ended.
type EndedProcess struct {
	PID        int    `json:"pid"`
	Executable string `json:"executable,omitempty"`
	// Signal is the last signal it needed: SIGTERM, or SIGKILL when it
	// outlived the grace period.
	Signal string `json:"signal"`
}

// Masking totals for the whole job.
type Masking struct {
	Secrets      int            `json:"secrets"`
	Redactions   int            `json:"redactions"`
	DetectorHits map[string]int `json:"detectorHits,omitempty"`
}

// Refusal is a scope the agent declined to issue, and why.
type Refusal struct {
	Scope  string `json:"scope"`
	Reason string `json:"reason"`
}
