// Package attest builds, signs and verifies chaperone job attestations.
//
// An attestation is an in-toto Statement v1 (NewStatement) whose predicate
// is a JobPredicate (type PredicateTypeJob), signed into a DSSE envelope
// (payload type application/vnd.in-toto+json) inside a Sigstore bundle v0.3
// (Sign). Subjects are the job itself (JobSubject: name = run URI, digest =
// SHA-256 of the run URI) plus any declared artifacts (FileSubjects).
//
// Signing goes through sigstore-go's sign.Bundle with a sign.Keypair:
// LoadKeySigner reads PEM keys (PKCS#8, SEC 1, PKCS#1, cosign's encrypted
// format); NewKeypair wraps any sigstore/sigstore SignerVerifier (KMS).
// Sign verifies every bundle it produces before returning it.
//
// Verify checks a bundle with sigstore-go: the signature against a given
// public key, the predicate type (always), a subject digest (unless the
// caller explicitly opts out), and the job predicate's contents, and
// reports each check's verdict. Bundles verify with stock cosign:
//
//	cosign verify-blob-attestation --new-bundle-format --bundle chaperone.sigstore.json \
//	  --key key.pub --insecure-ignore-tlog --trusted-root empty-trusted-root.json \
//	  --type https://chaperone.dev/attestation/job/v1 --digest HEX --digestAlg sha256
//
// The package imports nothing else from chaperone; it is a library.
package attest
