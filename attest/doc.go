// Package attest is the data model of chaperone's job attestations, which
// signers and verifiers share.
//
// An attestation is an in-toto Statement v1 (NewStatement, ParseStatement)
// whose predicate is a JobPredicate (type PredicateTypeJob, checked by
// JobPredicate.Validate), signed into a DSSE envelope (payload type
// PayloadTypeInToto) inside a Sigstore bundle v0.3 (BundleMediaType).
// Subjects are the job itself (JobSubject: name = run URI, digest =
// SHA-256 of the run URI) plus any declared artifacts (FileSubjects); a
// Digest names one subject digest (ParseDigest reads "alg:hex").
// WriteBundle and ReadBundleFile store bundles in files.
//
// The packages below it do the work:
//
//   - attest/sign makes bundles: sign.NewSigner for "key:PATH", "kms:URI"
//     or "keyless", each verifying the bundle it made before returning it;
//   - attest/verify checks them: a verify.Verifier checks the signature,
//     signer, time evidence, predicate type, subject, the job predicate
//     and a verify.Policy, and reports each check in a verify.Result;
//   - attest/oci stores them in OCI registries as referrers of the images
//     they attest, in the shape cosign reads (oci.Attach, oci.Fetch);
//   - attest/report says what each identity did across many verified
//     attestations;
//   - attest/kmsproviders links the KMS providers into a program.
//
// Bundles verify with stock cosign:
//
//	cosign verify-blob-attestation --new-bundle-format --bundle chaperone.sigstore.json \
//	  --key key.pub --insecure-ignore-tlog --trusted-root empty-trusted-root.json \
//	  --type https://chaperone.dev/attestation/job/v1 --digest HEX --digestAlg sha256
//
// The attest packages import nothing else from chaperone; they are a
// library. verify never imports sign; sign uses verify, to check what it
// signs before returning it.
package attest
