package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/chaperone-ci/chaperone/attest"
)

// Attestation is one bundle found attached to an image. Nothing in it
// is verified: PredicateType is what the referrer's annotation claims.
type Attestation struct {
	Referrer      string `json:"referrer"` // repo@sha256:… of the referrer manifest
	PredicateType string `json:"predicateType,omitempty"`
	Bundle        []byte `json:"-"`
}

// maxReferrers bounds how many referrers of one image are examined.
const maxReferrers = 256

// Fetch resolves an image (by tag or digest) and returns it as a
// subject, with every Sigstore bundle attached to it as an OCI referrer
// (through the referrers API, or the sha256-<hex> fallback tag). As cosign
// does, it takes every referrer whose manifest has exactly one layer of a
// Sigstore bundle media type, whatever its artifactType; verify each and
// accept the image if one verifies. No bundles is not an error. With
// WithRepository, the referrers of the image digest are looked up in
// that repository instead of the image's.
func Fetch(ctx context.Context, image string, opts ...Option) (attest.Subject, []Attestation, error) {
	o := newOptions(opts)
	r, err := o.parse(image)
	if err != nil {
		return attest.Subject{}, nil, err
	}
	desc, err := headImage(ctx, r, o)
	if err != nil {
		return attest.Subject{}, nil, err
	}
	subject := imageSubject(r, desc)
	repo := r.Context()
	if o.repository != "" {
		if repo, err = o.repo(); err != nil {
			return subject, nil, err
		}
	}
	out, err := fetchReferrers(ctx, repo.Digest(desc.Digest.String()), o)
	return subject, out, err
}

// fetchReferrers returns the bundles among the referrers of d in d's
// repository.
func fetchReferrers(ctx context.Context, d name.Digest, o options) ([]Attestation, error) {
	idx, err := remote.Referrers(d, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", d, err)
	}
	if len(im.Manifests) > maxReferrers {
		return nil, fmt.Errorf("%s has %d referrers, more than the %d examined", d, len(im.Manifests), maxReferrers)
	}
	var out []Attestation
	for _, ref := range im.Manifests {
		rd := d.Context().Digest(ref.Digest.String())
		got, err := remote.Get(rd, o.remote(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("fetching referrer %s: %w", rd, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(got.Manifest, &m); err != nil {
			continue // an index or something else: not a bundle
		}
		if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleMediaTypePrefixOCI) {
			continue
		}
		if m.Layers[0].Size > attest.MaxBundleSize {
			return nil, fmt.Errorf("referrer %s: bundle of %d bytes, more than the %d allowed", rd, m.Layers[0].Size, attest.MaxBundleSize)
		}
		blob, err := fetchBlob(ctx, d.Context().Digest(m.Layers[0].Digest.String()), o)
		if err != nil {
			return nil, fmt.Errorf("referrer %s: %w", rd, err)
		}
		out = append(out, Attestation{Referrer: rd.String(), PredicateType: m.Annotations[annotationPredicateType], Bundle: blob})
	}
	return out, nil
}

// fetchBlob reads a blob of at most attest.MaxBundleSize bytes; ggcr
// checks its digest as it is read.
func fetchBlob(ctx context.Context, d name.Digest, o options) ([]byte, error) {
	l, err := remote.Layer(d, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, attest.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d, err)
	}
	if len(data) > attest.MaxBundleSize {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, attest.MaxBundleSize)
	}
	return data, nil
}
