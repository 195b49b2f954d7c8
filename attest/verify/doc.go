// Package verify checks chaperone job attestations: Sigstore bundles
// holding a DSSE-signed in-toto statement.
//
// A Verifier (NewVerifier; Bundle for a one-off) resolves its Options once:
// the trusted material (a public key, or a certificate identity and OIDC
// issuer with a trusted root), the subject to look for, and a Policy. The
// zero Options are refused: a signer is always required, and so is a
// subject unless WithoutArtifactUnsafe says the caller checks the subjects
// itself. Verify then checks, in order: the bundle's structure, the
// signature (sigstore-go), its time evidence, the signer, the statement,
// the predicate type (always), the subject digest, the job predicate's
// contents, and the Policy (revocation, grant lifetime, scopes, providers,
// outcome, the owner's rules). The Result reports each check's verdict, and
// holds the bundle's content only when every check passed; a failure is an
// *Error naming the first failed check.
//
// LoadKey, LoadPublicKey and LoadTrustedRoot read what a verifier trusts.
// ForStatement is the check a signer (attest/sign) makes of each bundle it
// makes, before handing it out.
package verify
