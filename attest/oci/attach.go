package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/chaperone-ci/chaperone/attest"
)

// OCI 1.1 referrer shape of a Sigstore bundle, as cosign writes and reads
// it (cosign attest --new-bundle-format; cosign verify-attestation).
const (
	ociEmptyMediaType        = "application/vnd.oci.empty.v1+json"
	annotationBundleContent  = "dev.sigstore.bundle.content"
	annotationPredicateType  = "dev.sigstore.bundle.predicateType"
	annotationCreated        = "org.opencontainers.image.created"
	bundleContentDSSE        = "dsse-envelope"
	bundleMediaTypePrefixOCI = "application/vnd.dev.sigstore.bundle"
)

// Attach stores a bundle in the registry as an OCI 1.1 referrer of the
// image (repo@sha256:…): a manifest whose subject is the image, whose
// artifactType and only layer are application/vnd.dev.sigstore.bundle.v0.3+json,
// with a {} config of type application/vnd.oci.empty.v1+json and the
// annotations dev.sigstore.bundle.content=dsse-envelope and
// dev.sigstore.bundle.predicateType. On a registry without the referrers
// API, the referrer is also listed in the image index tagged
// sha256-<hex of the image digest> (the OCI fallback tag scheme).
// `cosign verify-attestation --new-bundle-format` and Fetch find it
// either way.
//
// With WithRepository, the referrer (and its fallback tag) is written to
// that repository instead of the image's, still with the image as its
// subject, and the DSSE envelope is also appended to the image tagged
// sha256-<hex>.att there: the shape cosign v2 reads with COSIGN_REPOSITORY
// set (cosign verify-attestation without --new-bundle-format). The image
// itself is only read.
//
// The bundle's statement must name the image digest as a subject: an
// attestation attached to an image it does not describe would never
// verify. predicateType empty means the statement's own. It returns the
// referrer manifest's reference (repo@sha256:…).
func Attach(ctx context.Context, bundleJSON []byte, image, predicateType string, opts ...Option) (string, error) {
	o := newOptions(opts)
	r, err := o.parse(image)
	if err != nil {
		return "", err
	}
	d, ok := r.(name.Digest)
	if !ok {
		return "", fmt.Errorf("attaching to %s: give the image by digest (REPO@sha256:…), as resolved when it was attested", image)
	}
	predicateType, err = checkBundle(bundleJSON, "the image's digest", d.DigestStr(), predicateType)
	if err != nil {
		return "", fmt.Errorf("attaching to %s: %w", image, err)
	}
	desc, err := headImage(ctx, d, o)
	if err != nil {
		return "", fmt.Errorf("attaching: %w", err)
	}

	repo := d.Context()
	if o.repository != "" {
		if repo, err = o.repo(); err != nil {
			return "", fmt.Errorf("attaching to %s: %w", image, err)
		}
	}
	subject := v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	target, err := putReferrer(ctx, repo, bundleJSON, predicateType, subject, o)
	if err != nil {
		return "", fmt.Errorf("attaching to %s: %w", image, err)
	}
	if o.repository != "" {
		if err := appendCosignAttestation(ctx, repo, desc.Digest, bundleJSON, predicateType, o); err != nil {
			return "", fmt.Errorf("attaching to %s: %w", image, err)
		}
	}
	return target.String(), nil
}

// putReferrer uploads the bundle and a referrer manifest of subject into
// repo, and returns the manifest's reference. ggcr keeps the
// sha256-<hex> fallback tag index of repo up to date when the registry
// has no referrers API.
func putReferrer(ctx context.Context, repo name.Repository, bundleJSON []byte, predicateType string, subject v1.Descriptor, o options) (name.Digest, error) {
	layer := static.NewLayer(bundleJSON, types.MediaType(attest.BundleMediaType))
	config := static.NewLayer([]byte("{}"), ociEmptyMediaType)
	var descs [2]v1.Descriptor
	for i, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l, o.remote(ctx)...); err != nil {
			return name.Digest{}, fmt.Errorf("uploading a blob to %s: %w", repo, err)
		}
		var err error
		if descs[i], err = layerDescriptor(l); err != nil {
			return name.Digest{}, err
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  attest.BundleMediaType,
		Config:        descs[0],
		Layers:        []v1.Descriptor{descs[1]},
		Subject:       &subject,
		Annotations: map[string]string{
			annotationBundleContent: bundleContentDSSE,
			annotationPredicateType: predicateType,
			annotationCreated:       time.Now().UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return name.Digest{}, fmt.Errorf("encoding the manifest: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return name.Digest{}, err
	}
	target := repo.Digest(h.String())
	if err := remote.Put(target, rawManifest{raw: raw, mediaType: types.OCIManifestSchema1}, o.remote(ctx)...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing the referrer manifest to %s: %w", repo, err)
	}
	return target, nil
}

// rawManifest is a manifest to PUT as it is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

func layerDescriptor(l v1.Layer) (v1.Descriptor, error) {
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}, nil
}

// bundleStatement reads the (unverified) statement of a bundle, to check
// what is being attached.
func bundleStatement(bundleJSON []byte) (*attest.Statement, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("not a valid Sigstore bundle: %w", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, errors.New("the bundle holds no DSSE envelope")
	}
	return attest.ParseStatement(env.GetPayload())
}

// namesDigest reports whether a subject has the digest "alg:hex".
func namesDigest(subjects []attest.Subject, digest string) bool {
	d, err := attest.ParseDigest(digest)
	if err != nil {
		return false
	}
	for _, s := range subjects {
		if s.Digest[d.Algorithm] == d.Hex {
			return true
		}
	}
	return false
}
