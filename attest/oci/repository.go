package oci

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/chaperone-ci/chaperone/attest"
)

// The legacy attestation shape cosign v2 reads from the image tagged
// sha256-<hex>.att (cosign attest without --new-bundle-format): one layer
// per DSSE envelope, with the verification material in annotations.
const (
	cosignAttestationSuffix   = ".att"
	dsseEnvelopeMediaType     = "application/vnd.dsse.envelope.v1+json"
	annotationCosignSignature = "dev.cosignproject.cosign/signature"
	annotationCosignCert      = "dev.sigstore.cosign/certificate"
	annotationCosignTimestamp = "dev.sigstore.cosign/rfc3161timestamp"
	annotationCosignPredicate = "predicateType"
	jobSubjectMediaType       = "text/plain"
)

// ParseRepository checks a REGISTRY/REPO reference for WithRepository
// and returns it in canonical form. The registry must be explicit
// (a host with a dot or a port, or localhost), there must be a
// repository path, and there must be no tag or digest.
func ParseRepository(repo string) (string, error) {
	host, path, ok := strings.Cut(repo, "/")
	if !ok || path == "" || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return "", fmt.Errorf("repository %q: want REGISTRY/REPO with an explicit registry host (e.g. registry.example.com/org/attestations)", repo)
	}
	r, err := name.NewRepository(repo, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("repository %q: %w", repo, err)
	}
	if r.RegistryStr() != host {
		return "", fmt.Errorf("repository %q: the registry is %s, not %s", repo, r.RegistryStr(), host)
	}
	return r.Name(), nil
}

// repo returns the WithRepository repository.
func (o options) repo() (name.Repository, error) {
	if _, err := ParseRepository(o.repository); err != nil {
		return name.Repository{}, err
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	return name.NewRepository(o.repository, nopts...)
}

// AttachJob stores a bundle in the WithRepository repository as a
// referrer of the job subject (name = runURI, digest = sha256 of runURI),
// so that a job that attested no image is found by that digest (see
// FetchDigest). The referrer's subject descriptor has media type
// text/plain and the run URI's length as size. The bundle's statement
// must name the job subject; predicateType empty means the statement's
// own. The referrer is also tagged chaperone-job-<hex of the job
// subject's digest>, for List. It returns the referrer manifest's
// reference (repo@sha256:…).
func AttachJob(ctx context.Context, bundleJSON []byte, runURI, predicateType string, opts ...Option) (string, error) {
	o := newOptions(opts)
	d := attest.JobSubjectDigest(runURI)
	if o.repository == "" {
		return "", errors.New("attaching to the job subject: no attestation repository (WithRepository): the job has no repository of its own")
	}
	repo, err := o.repo()
	if err != nil {
		return "", fmt.Errorf("attaching to the job subject: %w", err)
	}
	predicateType, err = checkBundle(bundleJSON, "the job subject's digest", d.String(), predicateType)
	if err != nil {
		return "", fmt.Errorf("attaching to the job subject %s: %w", d, err)
	}
	h, err := v1.NewHash(d.String())
	if err != nil {
		return "", err
	}
	subject := v1.Descriptor{MediaType: jobSubjectMediaType, Digest: h, Size: int64(len(runURI))}
	target, err := putReferrer(ctx, repo, bundleJSON, predicateType, subject, o)
	if err != nil {
		return "", fmt.Errorf("attaching to the job subject %s: %w", d, err)
	}
	// A tag per job, so that List finds every job's bundle whether or not
	// the registry answers the referrers API.
	desc, err := remote.Get(target, o.remote(ctx)...)
	if err == nil {
		err = remote.Tag(repo.Tag(jobTag(runURI)), desc, o.remote(ctx)...)
	}
	if err != nil {
		return "", fmt.Errorf("tagging the job's referrer %s: %w", target, err)
	}
	return target.String(), nil
}

// checkBundle checks that the bundle's statement names digest ("alg:hex",
// described as what) as a subject and has the predicate type (empty: the
// statement's own), and returns the predicate type.
func checkBundle(bundleJSON []byte, what, digest, predicateType string) (string, error) {
	st, err := bundleStatement(bundleJSON)
	if err != nil {
		return "", err
	}
	if predicateType == "" {
		predicateType = st.PredicateType
	} else if predicateType != st.PredicateType {
		return "", fmt.Errorf("the statement's predicate type is %s, not %s", st.PredicateType, predicateType)
	}
	if !namesDigest(st.Subject, digest) {
		return "", fmt.Errorf("the statement has no subject with %s %s", what, digest)
	}
	return predicateType, nil
}

// FetchDigest returns the bundles stored in the WithRepository
// repository as referrers of digest ("sha256:<hex>": an image's, or a job
// subject's), as Fetch does for an image. No bundles is not an error.
func FetchDigest(ctx context.Context, digest string, opts ...Option) ([]Attestation, error) {
	o := newOptions(opts)
	if o.repository == "" {
		return nil, errors.New("looking up a digest needs the attestation repository (WithRepository)")
	}
	repo, err := o.repo()
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(digest)
	if err != nil || h.Algorithm != "sha256" {
		return nil, fmt.Errorf("digest %q: want sha256:<64 hex digits>", digest)
	}
	return fetchReferrers(ctx, repo.Digest(h.String()), o)
}

// appendCosignAttestation appends the bundle's DSSE envelope, with its
// certificate and RFC 3161 timestamp as annotations, to the image tagged
// sha256-<hex>.att in repo, creating it if needed; an envelope already
// there is not added twice.
func appendCosignAttestation(ctx context.Context, repo name.Repository, subject v1.Hash, bundleJSON []byte, predicateType string, o options) error {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return fmt.Errorf("not a valid Sigstore bundle: %w", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return errors.New("the bundle holds no DSSE envelope")
	}
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}
	e := struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []sig  `json:"signatures"`
	}{PayloadType: env.GetPayloadType(), Payload: base64.StdEncoding.EncodeToString(env.GetPayload())}
	for _, s := range env.GetSignatures() {
		e.Signatures = append(e.Signatures, sig{KeyID: s.GetKeyid(), Sig: base64.StdEncoding.EncodeToString(s.GetSig())})
	}
	envJSON, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ann := map[string]string{annotationCosignSignature: "", annotationCosignPredicate: predicateType}
	vm := b.GetVerificationMaterial()
	if cert := vm.GetCertificate().GetRawBytes(); len(cert) > 0 {
		ann[annotationCosignCert] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}))
	}
	if ts := vm.GetTimestampVerificationData().GetRfc3161Timestamps(); len(ts) > 0 {
		raw, err := json.Marshal(struct{ SignedRFC3161Timestamp []byte }{ts[0].GetSignedTimestamp()})
		if err != nil {
			return err
		}
		ann[annotationCosignTimestamp] = string(raw)
	}
	layer := static.NewLayer(envJSON, dsseEnvelopeMediaType)
	ld, err := layer.Digest()
	if err != nil {
		return err
	}

	tag := repo.Tag(subject.Algorithm + "-" + subject.Hex + cosignAttestationSuffix)
	var base v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	existing, err := remote.Image(tag, o.remote(ctx)...)
	var terr *transport.Error
	switch {
	case err == nil:
		m, err := existing.Manifest()
		if err != nil {
			return fmt.Errorf("reading %s: %w", tag, err)
		}
		for _, l := range m.Layers {
			if l.Digest == ld {
				return nil
			}
		}
		base = existing
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
	default:
		return fmt.Errorf("reading %s: %w", tag, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: ann, MediaType: dsseEnvelopeMediaType})
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, o.remote(ctx)...); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	return nil
}
