// Package attest builds, signs and verifies chaperone job attestations.
//
// An attestation is an in-toto Statement v1 (NewStatement) whose predicate
// is a JobPredicate (type PredicateTypeJob), signed into a DSSE envelope
// (payload type application/vnd.in-toto+json) inside a Sigstore bundle v0.3
// (Sign). Subjects are the job itself (JobSubject: name = run URI, digest =
// SHA-256 of the run URI) plus any declared artifacts (FileSubjects).
//
// Signing goes through sigstore-go's sign.Bundle. NewSigner returns a
// Signer for a spec: "key:PATH" (LoadKeySigner: PEM PKCS#8, SEC 1,
// PKCS#1, cosign's encrypted format), "kms:URI" (sigstore/sigstore KMS,
// linked by importing attest/kmsproviders), or "keyless" (an ephemeral key
// certified by Fulcio for the job's OIDC token, audience "sigstore", dated
// by an RFC 3161 TSA, Rekor optional). Every signer verifies the bundle it
// made before returning it. TrustedRootFor builds the trusted root of a
// private Fulcio/TSA for verifiers.
//
// Verification goes through a Verifier (NewVerifier: trusted material,
// identity policy and subject resolved once; Verify for one-offs): the
// signature against a public key, or a certificate identity and OIDC
// issuer against a trusted root with a signed timestamp; the predicate
// type (always); a subject digest (unless the caller explicitly opts
// out); the job predicate's contents; and a Policy (revocation, grant
// lifetime, scopes, providers, outcome). The Result reports each check's
// verdict. Bundles verify with stock cosign:
//
//	cosign verify-blob-attestation --new-bundle-format --bundle chaperone.sigstore.json \
//	  --key key.pub --insecure-ignore-tlog --trusted-root empty-trusted-root.json \
//	  --type https://chaperone.dev/attestation/job/v1 --digest HEX --digestAlg sha256
//
// ResolveImage, AttachToImage and FetchFromImage store bundles in OCI
// registries as referrers of the images they attest, in the shape cosign
// reads (with the sha256-<hex> tag fallback).
//
// The package imports nothing else from chaperone; it is a library.
package attest
