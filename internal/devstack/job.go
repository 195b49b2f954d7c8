package devstack

import (
	"fmt"
	"strings"
)

// The devstack pretends to run one job of one repository. The names are
// fixed so configs and trust policies can name them; the run ids and the
// commit are fresh per Start so that runs are distinguishable.
const (
	// Repository is the repository (GitHub) or project path (GitLab) of the
	// devstack's job; the Vault role, the octo-sts trust policy and the AWS
	// role all trust tokens of this repository only.
	Repository = RepositoryOwner + "/" + repositoryName
	// RepositoryOwner is the owner of Repository (GitLab: its namespace).
	RepositoryOwner = "chaperone-ci"
	// Audience is accepted by every stand-in besides its own default
	// audience (Vault address, GitHub API host, sts.amazonaws.com).
	Audience = "chaperone-devstack"

	repositoryName = "devstack-demo"

	// Platforms a Stack can pretend to run on.
	PlatformGitHub = "github"
	PlatformGitLab = "gitlab"

	githubServerURL = "https://github.com"
	gitlabServerURL = "https://gitlab.com"
	defaultBranch   = "main"
	workflowName    = "devstack"
	workflowFile    = ".github/workflows/devstack.yml"
	jobName         = "demo"
	actorName       = "devstack-bot"
)

// job is the CI job the tokens and the environment describe. It is
// immutable after Start.
type job struct {
	// GitHub ids (numeric strings, as in real tokens).
	ownerID, repositoryID, actorID string
	runID, runNumber, runAttempt   string
	checkRunID                     string
	// GitLab ids.
	namespaceID, projectID, userID string
	pipelineID, jobID              string
	sha                            string
}

func newJob() *job {
	return &job{
		ownerID:      "190000001",
		repositoryID: "190000002",
		actorID:      "190000003",
		runID:        randomDigits(11),
		runNumber:    "1",
		runAttempt:   "1",
		checkRunID:   randomDigits(11),
		namespaceID:  "290000001",
		projectID:    "290000002",
		userID:       "290000003",
		pipelineID:   randomDigits(10),
		jobID:        randomDigits(11),
		sha:          randomHex(20),
	}
}

func (j *job) ref() string { return "refs/heads/" + defaultBranch }

func (j *job) workflowRef() string {
	return Repository + "/" + workflowFile + "@" + j.ref()
}

// githubSubject is the classic (name-based) sub of a branch job.
func (j *job) githubSubject() string { return "repo:" + Repository + ":ref:" + j.ref() }

// gitlabSubject is GitLab's default sub.
func (j *job) gitlabSubject() string {
	return "project_path:" + Repository + ":ref_type:branch:ref:" + defaultBranch
}

// githubClaims is the full claim set of a GitHub Actions job token
// (federation.md §2.1) minus the registered claims the issuer adds.
func (j *job) githubClaims() map[string]any {
	return map[string]any{
		"actor":                 actorName,
		"actor_id":              j.actorID,
		"base_ref":              "",
		"check_run_id":          j.checkRunID,
		"event_name":            "push",
		"head_ref":              "",
		"job_workflow_ref":      j.workflowRef(),
		"job_workflow_sha":      j.sha,
		"ref":                   j.ref(),
		"ref_protected":         "true",
		"ref_type":              "branch",
		"repository":            Repository,
		"repository_id":         j.repositoryID,
		"repository_owner":      RepositoryOwner,
		"repository_owner_id":   j.ownerID,
		"repository_visibility": "private",
		"run_attempt":           j.runAttempt,
		"run_id":                j.runID,
		"run_number":            j.runNumber,
		"runner_environment":    "self-hosted",
		"sha":                   j.sha,
		"sub":                   j.githubSubject(),
		"workflow":              workflowName,
		"workflow_ref":          j.workflowRef(),
		"workflow_sha":          j.sha,
	}
}

// gitlabClaims is the claim set of a GitLab CI ID token (federation.md
// §2.2) for a push pipeline on the default branch.
func (j *job) gitlabClaims() map[string]any {
	host := strings.TrimPrefix(gitlabServerURL, "https://")
	return map[string]any{
		"namespace_id":       j.namespaceID,
		"namespace_path":     RepositoryOwner,
		"project_id":         j.projectID,
		"project_path":       Repository,
		"job_namespace_id":   j.namespaceID,
		"job_namespace_path": RepositoryOwner,
		"job_project_id":     j.projectID,
		"job_project_path":   Repository,
		"user_id":            j.userID,
		"user_login":         actorName,
		"user_email":         actorName + "@example.com",
		"user_access_level":  "developer",
		"pipeline_id":        j.pipelineID,
		"pipeline_source":    "push",
		"job_id":             j.jobID,
		"ref":                defaultBranch,
		"ref_type":           "branch",
		"ref_path":           j.ref(),
		"ref_protected":      "true",
		"runner_id":          1, // a number in real GitLab tokens
		"runner_environment": "self-hosted",
		"sha":                j.sha,
		"project_visibility": "private",
		"ci_config_ref_uri":  fmt.Sprintf("%s/%s//.gitlab-ci.yml@%s", host, Repository, j.ref()),
		"ci_config_sha":      j.sha,
		"sub":                j.gitlabSubject(),
	}
}

// githubEnv is what a GitHub runner sets for the job (the subset chaperone
// reads), consistent with githubClaims.
func (j *job) githubEnv() [][2]string {
	return [][2]string{
		{"GITHUB_ACTIONS", "true"},
		{"GITHUB_SERVER_URL", githubServerURL},
		{"GITHUB_REPOSITORY", Repository},
		{"GITHUB_REPOSITORY_ID", j.repositoryID},
		{"GITHUB_REPOSITORY_OWNER", RepositoryOwner},
		{"GITHUB_RUN_ID", j.runID},
		{"GITHUB_RUN_ATTEMPT", j.runAttempt},
		{"GITHUB_RUN_NUMBER", j.runNumber},
		{"GITHUB_JOB", jobName},
		{"GITHUB_WORKFLOW", workflowName},
		{"GITHUB_WORKFLOW_REF", j.workflowRef()},
		{"GITHUB_REF", j.ref()},
		{"GITHUB_SHA", j.sha},
		{"GITHUB_ACTOR", actorName},
		{"RUNNER_ENVIRONMENT", "self-hosted"},
	}
}

// gitlabEnv is what GitLab sets for the job, consistent with gitlabClaims.
func (j *job) gitlabEnv() [][2]string {
	return [][2]string{
		{"GITLAB_CI", "true"},
		{"CI_SERVER_URL", gitlabServerURL},
		{"CI_PROJECT_PATH", Repository},
		{"CI_PROJECT_ID", j.projectID},
		{"CI_PIPELINE_ID", j.pipelineID},
		{"CI_JOB_ID", j.jobID},
		{"CI_COMMIT_SHA", j.sha},
		{"CI_COMMIT_REF_NAME", defaultBranch},
		{"CI_JOB_URL", fmt.Sprintf("%s/%s/-/jobs/%s", gitlabServerURL, Repository, j.jobID)},
	}
}
