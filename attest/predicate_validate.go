package attest

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Enumerations of the job predicate. schema/job-v1.schema.json lists the
// same values; a test keeps the two in step.
var (
	// Outcomes is the set of valid JobPredicate.Outcome values.
	Outcomes = []string{OutcomeSuccess, OutcomeFailure, OutcomeAgentError, OutcomeInterrupted, OutcomeCanceled, OutcomeUnknown}
	// Deliveries is the set of valid Grant.Delivery values.
	Deliveries = []string{DeliveryEnv, DeliveryFile, DeliveryEndpoint}
	// RevocationOutcomes is the set of valid Revocation.Outcome values.
	RevocationOutcomes = []string{RevocationRevoked, RevocationExpiry, RevocationFailed}
)

// Job outcomes.
const (
	OutcomeSuccess    = "success"
	OutcomeFailure    = "failure"
	OutcomeAgentError = "agent-error"
	// OutcomeInterrupted: a command started and the agent never saw it
	// end (the process running it was killed; a later stop recovered the
	// session).
	OutcomeInterrupted = "interrupted"
	// OutcomeCanceled: the job was canceled (a signal to the agent while
	// its command ran, or the CI's own job status).
	OutcomeCanceled = "canceled"
	// OutcomeUnknown: the agent ran no command and the CI did not say how
	// the job ended (start/stop without a job status).
	OutcomeUnknown = "unknown"
)

// Grant delivery modes.
const (
	DeliveryEnv      = "env"
	DeliveryFile     = "file"
	DeliveryEndpoint = "endpoint"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the predicate against the contract of
// schema/job-v1.schema.json: required values are set, enumerations hold
// known values, fingerprints are lowercase hex SHA-256, counts are not
// negative, and each revocation outcome carries its evidence (revoked: at,
// expiry: expiresAt, failed: error). All problems are reported together,
// each prefixed with the JSON path of the offending field.
func (p *JobPredicate) Validate() error {
	var v validator
	v.nonEmpty("agent.name", p.Agent.Name)
	v.nonEmpty("agent.version", p.Agent.Version)
	v.nonEmpty("platform", p.Platform)
	v.nonEmpty("job.runURI", p.Job.RunURI)
	for i, h := range p.Identity.TokenSHA256 {
		v.sha256(fmt.Sprintf("identity.tokenSHA256[%d]", i), h)
	}
	for i, g := range p.Grants {
		at := fmt.Sprintf("grants[%d]", i)
		v.nonEmpty(at+".scope", g.Scope)
		v.nonEmpty(at+".provider", g.Provider)
		v.sha256(at+".credentialSHA256", g.Fingerprint)
		v.oneOf(at+".delivery", g.Delivery, Deliveries)
		v.oneOf(at+".revocation.outcome", g.Revocation.Outcome, RevocationOutcomes)
		switch g.Revocation.Outcome {
		case RevocationRevoked:
			if g.Revocation.At == nil {
				v.add(at+".revocation.at", "is required when the outcome is %q", RevocationRevoked)
			}
		case RevocationExpiry:
			if g.Revocation.ExpiresAt == nil {
				v.add(at+".revocation.expiresAt", "is required when the outcome is %q", RevocationExpiry)
			}
		case RevocationFailed:
			if g.Revocation.Error == "" {
				v.add(at+".revocation.error", "is required when the outcome is %q", RevocationFailed)
			}
		}
		for j, f := range g.Fetches {
			if f.PID < 0 {
				v.add(fmt.Sprintf("%s.fetches[%d].pid", at, j), "must not be negative")
			}
		}
	}
	for i, s := range p.Steps {
		at := fmt.Sprintf("steps[%d]", i)
		if len(s.Command) == 0 {
			v.add(at+".command", "must have at least one element")
		}
		v.nonNegative(at+".redactions", s.Redactions)
		for j, pr := range s.EndedProcesses {
			if pr.PID <= 0 {
				v.add(fmt.Sprintf("%s.endedProcesses[%d].pid", at, j), "must be positive")
			}
			v.oneOf(fmt.Sprintf("%s.endedProcesses[%d].signal", at, j), pr.Signal, []string{"SIGTERM", "SIGKILL"})
		}
	}
	v.nonNegative("masking.secrets", p.Masking.Secrets)
	v.nonNegative("masking.redactions", p.Masking.Redactions)
	for name, n := range p.Masking.DetectorHits {
		v.nonNegative(fmt.Sprintf("masking.detectorHits[%q]", name), n)
	}
	for i, r := range p.Refused {
		v.nonEmpty(fmt.Sprintf("refused[%d].scope", i), r.Scope)
	}
	v.oneOf("outcome", p.Outcome, Outcomes)
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid job predicate: %w", errors.Join(v.errs...))
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s %s", path, fmt.Sprintf(format, args...)))
}

func (v *validator) nonEmpty(path, s string) {
	if s == "" {
		v.add(path, "is required")
	}
}

func (v *validator) nonNegative(path string, n int) {
	if n < 0 {
		v.add(path, "must not be negative (got %d)", n)
	}
}

func (v *validator) sha256(path, s string) {
	if !sha256Hex.MatchString(s) {
		v.add(path, "must be 64 lowercase hex characters (a SHA-256 digest), got %d characters", len(s))
	}
}

func (v *validator) oneOf(path, s string, allowed []string) {
	if !slices.Contains(allowed, s) {
		v.add(path, "is %q, want one of %s", s, strings.Join(allowed, ", "))
	}
}
