package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// A Binding is what a trust policy binds a scope's credential to: the CI's
// token issuer and the claims a job's token must carry, each with the
// exact value it must have.
type Binding struct {
	Platform string // "github" or "gitlab"
	Issuer   string // the tokens' iss: an https URL (http on a loopback host for local stand-ins)
	Claims   map[string]string
	// FromJob is set when Claims are the immutable claims of a job's own
	// token rather than ones a user chose: a claim the target cannot
	// condition on is then left out, with a note saying so, instead of
	// failing the render, as long as the repository or project stays
	// bound. Job holds every claim of that token, so a target that can
	// condition on no id binds the repository or project by what it can
	// (its name in the subject).
	FromJob bool
	Job     map[string]string
}

// A TrustDocument is issuer-side configuration for one scope: an IAM role's
// trust policy, a Vault JWT role, ...
type TrustDocument struct {
	Name      string // a file name for it
	MediaType string // application/json, application/yaml, text/x-hcl
	Content   []byte
}

// Trust is the issuer-side configuration of one scope: its documents, and
// notes for the person who applies them (claims the target cannot
// condition on, and what was bound instead).
type Trust struct {
	Documents []TrustDocument
	Notes     []string
}

// A TrustRenderer writes the issuer-side trust configuration under which
// its scope's exchange succeeds for the bound identity, and for no other.
type TrustRenderer interface {
	RenderTrust(b Binding) (Trust, error)
}

// ClaimNames returns the bound claims' names, sorted.
func (b Binding) ClaimNames() []string {
	names := make([]string, 0, len(b.Claims))
	for k := range b.Claims {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// IssuerHost is the issuer URL without its scheme, as AWS names OIDC
// providers and their condition keys.
func (b Binding) IssuerHost() string {
	host := strings.TrimPrefix(strings.TrimPrefix(b.Issuer, "https://"), "http://")
	return strings.TrimSuffix(host, "/")
}

// Without returns a copy of b without the named claims.
func (b Binding) Without(names ...string) Binding {
	claims := make(map[string]string, len(b.Claims))
	for k, v := range b.Claims {
		if !slices.Contains(names, k) {
			claims[k] = v
		}
	}
	b.Claims = claims
	return b
}

// With returns a copy of b that also binds name to value.
func (b Binding) With(name, value string) Binding {
	claims := make(map[string]string, len(b.Claims)+1)
	for k, v := range b.Claims {
		claims[k] = v
	}
	claims[name] = value
	b.Claims = claims
	return b
}

// RequireProject checks that the binding names the repository (GitHub) or
// project (GitLab), by name, id or subject: bound to less (a branch, an
// environment), a trust policy admits every repository's jobs.
func (b Binding) RequireProject() error {
	for _, name := range []string{"sub", "repository", "repository_id", "project_path", "project_id"} {
		if _, ok := b.Claims[name]; ok {
			return nil
		}
	}
	if b.Platform == "gitlab" {
		return errors.New("bind the project (project_path=GROUP/PROJECT or project_id=N): bound to less, the policy admits every project's jobs")
	}
	return errors.New("bind the repository (repository=OWNER/REPO or repository_id=N): bound to less, the policy admits every repository's jobs")
}

// Subject returns the sub claim the bound claims determine on the
// platform, and the claims it covers. GitHub: repo:REPOSITORY:environment:
// ENV, repo:REPOSITORY:ref:REF, or, with only the repository bound, the
// pattern repo:REPOSITORY:* (exact false). GitLab: project_path:PATH:
// ref_type:TYPE:ref:REF, or project_path:PATH:* likewise. A bound sub is
// used as it is.
func (b Binding) Subject() (sub string, exact bool, covered []string, err error) {
	if s, ok := b.Claims["sub"]; ok {
		return s, true, []string{"sub"}, nil
	}
	switch b.Platform {
	case "github":
		repo, ok := b.Claims["repository"]
		if !ok {
			return "", false, nil, errors.New("bind the repository (repository=OWNER/REPO): a subject without it would admit every repository")
		}
		if env, ok := b.Claims["environment"]; ok {
			return fmt.Sprintf("repo:%s:environment:%s", repo, env), true, []string{"repository", "environment"}, nil
		}
		if ref, ok := b.Claims["ref"]; ok {
			return fmt.Sprintf("repo:%s:ref:%s", repo, ref), true, []string{"repository", "ref"}, nil
		}
		return "repo:" + repo + ":*", false, []string{"repository"}, nil
	case "gitlab":
		path, ok := b.Claims["project_path"]
		if !ok {
			return "", false, nil, errors.New("bind the project (project_path=GROUP/PROJECT): a subject without it would admit every project")
		}
		if ref, ok := b.Claims["ref"]; ok {
			refType := b.Claims["ref_type"]
			if refType == "" {
				refType = "branch"
			}
			return fmt.Sprintf("project_path:%s:ref_type:%s:ref:%s", path, refType, ref), true, []string{"project_path", "ref_type", "ref"}, nil
		}
		return "project_path:" + path + ":*", false, []string{"project_path"}, nil
	}
	return "", false, nil, fmt.Errorf("platform %q is not github or gitlab", b.Platform)
}

// JSONDocument encodes v as an indented JSON trust document (with & and <
// as they are: these documents are read by people and issuers, not
// embedded in HTML).
func JSONDocument(name string, v any) (TrustDocument, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return TrustDocument{}, err
	}
	return TrustDocument{Name: name, MediaType: "application/json", Content: buf.Bytes()}, nil
}
