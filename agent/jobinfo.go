package agent

import (
	"crypto/rand"
	"encoding/hex"
	"sort"

	"github.com/chaperone-ci/chaperone/attest"
)

// jobInfo describes the job from the variables the platform's runner sets.
func jobInfo(platform string, getenv func(string) string) attest.Job {
	switch platform {
	case PlatformGitHub:
		j := attest.Job{
			Repository:        getenv("GITHUB_REPOSITORY"),
			Ref:               getenv("GITHUB_REF"),
			SHA:               getenv("GITHUB_SHA"),
			Workflow:          getenv("GITHUB_WORKFLOW_REF"),
			RunID:             getenv("GITHUB_RUN_ID"),
			JobID:             getenv("GITHUB_JOB"),
			Attempt:           getenv("GITHUB_RUN_ATTEMPT"),
			RunnerEnvironment: getenv("RUNNER_ENVIRONMENT"),
		}
		if j.Workflow == "" {
			j.Workflow = getenv("GITHUB_WORKFLOW")
		}
		if server := getenv("GITHUB_SERVER_URL"); server != "" && j.Repository != "" && j.RunID != "" {
			j.RunURI = server + "/" + j.Repository + "/actions/runs/" + j.RunID
			if j.Attempt != "" {
				j.RunURI += "/attempts/" + j.Attempt
			}
		}
		return j
	case PlatformGitLab:
		return attest.Job{
			RunURI:     getenv("CI_JOB_URL"),
			Repository: getenv("CI_PROJECT_PATH"),
			Ref:        getenv("CI_COMMIT_REF_NAME"),
			SHA:        getenv("CI_COMMIT_SHA"),
			Workflow:   getenv("CI_CONFIG_PATH"),
			RunID:      getenv("CI_PIPELINE_ID"),
			JobID:      getenv("CI_JOB_ID"),
		}
	}
	return attest.Job{RunURI: getenv("CHAPERONE_RUN_URI")}
}

// jobInfoFromClaims fills what the environment did not say from the
// token's claims (GitHub and GitLab names).
func jobInfoFromClaims(j attest.Job, c map[string]string) attest.Job {
	fill := func(dst *string, keys ...string) {
		for _, k := range keys {
			if *dst == "" && c[k] != "" {
				*dst = c[k]
			}
		}
	}
	fill(&j.Repository, "repository", "project_path")
	fill(&j.Ref, "ref_path", "ref")
	fill(&j.SHA, "sha")
	fill(&j.Workflow, "job_workflow_ref", "ci_config_ref_uri")
	fill(&j.RunID, "run_id", "pipeline_id")
	fill(&j.JobID, "job_id")
	fill(&j.Attempt, "run_attempt")
	fill(&j.RunnerEnvironment, "runner_environment")
	return j
}

// localRunURI names a run outside any CI system: CHAPERONE_RUN_URI, or a
// random URN so every attestation still has a unique job subject.
func localRunURI(getenv func(string) string) string {
	if v := getenv("CHAPERONE_RUN_URI"); v != "" {
		return v
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "urn:chaperone:run:" + hex.EncodeToString(b)
}

// identityRecord summarises the tokens the job used: one issuer and subject
// (the first token's), every audience, the claims, and each token's SHA-256.
func identityRecord(tokens []*token) attest.Identity {
	rec := attest.Identity{Audiences: []string{}, TokenSHA256: []string{}}
	auds := map[string]bool{}
	for _, t := range tokens {
		if rec.Issuer == "" {
			rec.Issuer, rec.Subject, rec.Claims = t.Issuer, t.Subject, t.stringClaims()
		}
		for _, a := range t.Audience {
			if !auds[a] {
				auds[a] = true
				rec.Audiences = append(rec.Audiences, a)
			}
		}
		rec.TokenSHA256 = append(rec.TokenSHA256, t.sha256())
	}
	sort.Strings(rec.Audiences)
	return rec
}
