package devstack

import (
	"fmt"
	"strings"

	"github.com/chaperone-ci/chaperone/internal/atomicfile"
)

// Env returns the job environment as "NAME=value" pairs, in a fixed order:
// for GitHub the ACTIONS_ID_TOKEN_REQUEST_* pair and the GITHUB_* variables
// a runner sets (GITHUB_API_URL names the API stand-in, as on GitHub
// Enterprise Server); for GitLab the CI_* variables and CHAPERONE_ID_TOKEN
// (a token with aud Audience minted at Start, living TokenTTL); then the
// CHAPERONE_* variables: the generated config, and where each stand-in
// listens. The request token and the ID token are secrets: do not print
// them.
func (s *Stack) Env() []string {
	var pairs [][2]string
	switch s.platform {
	case PlatformGitLab:
		pairs = append(pairs, s.job.gitlabEnv()...)
		pairs = append(pairs, [2]string{"CHAPERONE_ID_TOKEN", s.gitlabIDToken})
	default:
		pairs = append(pairs,
			[2]string{"ACTIONS_ID_TOKEN_REQUEST_URL", s.issuer.requestURL()},
			[2]string{"ACTIONS_ID_TOKEN_REQUEST_TOKEN", s.issuer.requestToken})
		pairs = append(pairs, s.job.githubEnv()...)
		pairs = append(pairs, [2]string{"GITHUB_API_URL", s.GitHubAPIURL})
	}
	pairs = append(pairs,
		[2]string{"CHAPERONE_CONFIG", s.ConfigPath},
		[2]string{"CHAPERONE_DEVSTACK_URL", s.URL},
		[2]string{"CHAPERONE_DEVSTACK_ISSUER", s.IssuerURL},
		[2]string{"CHAPERONE_DEVSTACK_VAULT_ADDR", s.VaultAddr},
		[2]string{"CHAPERONE_DEVSTACK_STS_URL", s.STSURL},
		[2]string{"CHAPERONE_DEVSTACK_GITHUB_STS_URL", s.GitHubSTSURL},
		[2]string{"CHAPERONE_DEVSTACK_GITHUB_API_URL", s.GitHubAPIURL},
		[2]string{"CHAPERONE_DEVSTACK_GCP_STS_URL", s.GCPSTSURL},
		[2]string{"CHAPERONE_DEVSTACK_GCP_IAM_URL", s.GCPIAMURL},
		[2]string{"CHAPERONE_DEVSTACK_TOKEN_URL", s.TokenExchangeURL},
		[2]string{"CHAPERONE_DEVSTACK_TOKEN_REVOCATION_URL", s.TokenRevocationURL},
		[2]string{"CHAPERONE_DEVSTACK_TOKEN_RESOURCE_URL", s.TokenResourceURL},
		[2]string{"CHAPERONE_DEVSTACK_AZURE_AUTHORITY_URL", s.AzureAuthorityURL},
		[2]string{"CHAPERONE_DEVSTACK_REGISTRY", s.Registry},
		[2]string{"CHAPERONE_DEVSTACK_SIGNING_KEY", s.SigningKeyPath},
		[2]string{"CHAPERONE_DEVSTACK_PUBLIC_KEY", s.PublicKeyPath},
	)
	env := make([]string, len(pairs))
	for i, p := range pairs {
		env[i] = p[0] + "=" + p[1]
	}
	return env
}

// shellSpecial are the characters that `. FILE` would not read literally.
// (Assignments are not glob-expanded, but "~" after "=" or ":" is.)
const shellSpecial = " \t\r\n'\"\\$`;&|<>()~"

// WriteEnvFile writes Env, and the Vault stand-in's root token as
// CHAPERONE_DEVSTACK_VAULT_TOKEN (which configures its roles and
// policies, as VAULT_TOKEN does for the vault CLI; it is not part of the
// job's environment), as plain NAME=value lines (no quotes, no export),
// readable by `set -a; . FILE` and by --env-file readers, with mode 0600
// because it holds secrets. An existing file is replaced.
func (s *Stack) WriteEnvFile(path string) error {
	var b strings.Builder
	for _, kv := range append(s.Env(), "CHAPERONE_DEVSTACK_VAULT_TOKEN="+s.vault.rootToken) {
		// Paths come from Options.Dir. Without quoting, a value a shell
		// would split or expand cannot be written faithfully.
		if name, value, _ := strings.Cut(kv, "="); strings.ContainsAny(value, shellSpecial) {
			return fmt.Errorf("devstack: env file: value of %s (%q) needs shell quoting, which plain NAME=value lines cannot carry", name, value)
		}
		b.WriteString(kv + "\n")
	}
	if err := atomicfile.Write(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("devstack: env file: %w", err)
	}
	return nil
}
