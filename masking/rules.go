package masking

import (
	"fmt"
	"strings"
)

// A Body says which bytes continue the run that a Rule masks.
type Body int

const (
	// BodyToken continues over ASCII letters, digits and "._=-", the token
	// characters of gitlab-runner's token masker.
	BodyToken Body = iota
	// BodyLine continues to the end of the line: over every byte but CR
	// and LF.
	BodyLine
	// BodyNonSpace continues to the next white space or control character.
	BodyNonSpace
)

// A Rule masks the run of bytes that follows a literal prefix wherever the
// prefix appears, whatever the run's length, in the same pass as the
// registered secrets. A run is masked as it streams: nothing is held back
// for it, and the open masked run grows while body bytes keep coming.
type Rule struct {
	// ID names the rule in Set.Hits; "token-prefix" if empty.
	ID string
	// Prefix starts a match. It must be at least MinPrefixLength bytes.
	Prefix string
	// IgnoreCase matches the prefix in any ASCII letter case.
	IgnoreCase bool
	// MaskPrefix masks the prefix too, and masks it even when no body byte
	// follows. By default the prefix stays visible (it names the kind of
	// token, not the token) and a prefix with no body byte after it is not
	// a match, as in gitlab-runner.
	MaskPrefix bool
	// Body says which bytes continue the run.
	Body Body
}

// MinPrefixLength is the shortest prefix a Rule may have.
const MinPrefixLength = 3

// maxFoldLetters bounds the ASCII letters of a prefix matched with both
// IgnoreCase and MaskPrefix (its case variants are registered as patterns).
const maxFoldLetters = 8

// DefaultRuleID names rules that have no ID, such as Options.TokenPrefixes.
const DefaultRuleID = "token-prefix"

// validate reports why r cannot be used, or nil.
func (r Rule) validate() error {
	switch {
	case len(r.Prefix) < MinPrefixLength:
		return fmt.Errorf("masking: rule %q: prefix is shorter than %d bytes", r.id(), MinPrefixLength)
	case r.Body < BodyToken || r.Body > BodyNonSpace:
		return fmt.Errorf("masking: rule %q: unknown body %d", r.id(), r.Body)
	case r.IgnoreCase && r.MaskPrefix && countLetters(r.Prefix) > maxFoldLetters:
		return fmt.Errorf("masking: rule %q: a masked prefix matched in any case may have at most %d letters", r.id(), maxFoldLetters)
	case strings.IndexByte(r.Prefix, esc) >= 0:
		return fmt.Errorf("masking: rule %q: prefix holds an escape character", r.id())
	}
	return nil
}

func (r Rule) id() string {
	if r.ID == "" {
		return DefaultRuleID
	}
	return r.ID
}

// Built-in detector ids, for Options.Detectors and Set.Hits.
const (
	DetectGitLabToken   = "gitlab-token"      // glpat- and the other GitLab token prefixes, _gitlab_session=
	DetectGitHubToken   = "github-token"      // ghp_ gho_ ghs_ ghu_ ghr_ github_pat_
	DetectSlackToken    = "slack-token"       // xox?- and xapp-
	DetectNPMToken      = "npm-token"         // npm_
	DetectVaultToken    = "vault-token"       // hvs. hvb. hvr.
	DetectAWSKeyID      = "aws-access-key-id" // AKIA or ASIA and 16 more characters
	DetectJWT           = "jwt"               // the payload and signature of header.payload.signature
	DetectPrivateKey    = "private-key"       // PEM private key blocks
	DetectURLCredential = "url-credential"    // credential query parameters
	DetectURLPassword   = "url-password"      // scheme://user:password@
)

// Detectors returns the ids of the built-in detectors, all of which are on
// unless Options.Detectors says otherwise.
func Detectors() []string {
	return []string{DetectGitLabToken, DetectGitHubToken, DetectSlackToken, DetectNPMToken, DetectVaultToken,
		DetectAWSKeyID, DetectJWT, DetectPrivateKey, DetectURLCredential, DetectURLPassword}
}

// urlCredentialParams are the query parameter names whose values are
// masked, in any case.
func urlCredentialParams() []string {
	return []string{"x-amz-signature", "x-amz-credential", "x-amz-security-token", "private_token",
		"authenticity_token", "rss_token", "access_token", "sig",
		// Beyond the runners' lists: parameters that only ever carry credentials.
		"x-goog-signature", "x-goog-credential", "client_secret", "refresh_token", "id_token"}
}
