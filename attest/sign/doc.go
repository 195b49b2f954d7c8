// Package sign signs chaperone job attestations into Sigstore bundles.
//
// NewSigner returns a Signer for a spec: "key:PATH" (LoadKeypair: PEM
// PKCS#8, SEC 1, PKCS#1, cosign's encrypted format), "kms:URI"
// (sigstore/sigstore KMS, linked by importing attest/kmsproviders), or
// "keyless" (an ephemeral key certified by Fulcio for the job's OIDC token,
// audience "sigstore", dated by an RFC 3161 TSA, Rekor optional). Statement
// signs with a keypair the caller holds. Signing goes through sigstore-go's
// sign.Bundle, and every signer verifies the bundle it made
// (verify.ForStatement) before returning it: a bundle from this package is
// one that has already been verified. TrustedRootFor builds the trusted
// root of a private Fulcio/TSA for verifiers, and GenerateKey makes a key
// for tests and demos.
package sign
