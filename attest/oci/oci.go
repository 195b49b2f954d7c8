// Package oci stores attestation bundles in OCI registries as referrers of
// the images they attest, in the shape cosign reads and writes (cosign
// attest --new-bundle-format; cosign verify-attestation): Resolve turns an
// image reference into an in-toto subject, Attach stores a bundle as a
// referrer of an image (with the sha256-<hex> tag fallback for registries
// without the referrers API), and Fetch lists the bundles attached to an
// image. WithRepository keeps every bundle in one shared repository
// instead (cosign's COSIGN_REPOSITORY model), where AttachJob also stores
// the bundles of jobs that attested no image and FetchDigest finds
// bundles by subject digest. Nothing here verifies a bundle: that is
// attest/verify's work.
package oci

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/chaperone-ci/chaperone/attest"
)

// Option configures how Resolve, Attach and Fetch reach a registry.
type Option func(*options)

type options struct {
	keychain   authn.Keychain
	transport  http.RoundTripper
	insecure   bool
	repository string
}

// WithKeychain sets where registry credentials come from (default
// authn.DefaultKeychain: docker's config.json and credential helpers).
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) { o.keychain = kc }
}

// WithTransport sets the HTTP transport to the registry.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// WithInsecure talks plain HTTP to the registry. Registries on localhost
// and 127.0.0.1 (and private addresses) use plain HTTP without it, as
// docker and cosign do.
func WithInsecure() Option {
	return func(o *options) { o.insecure = true }
}

// WithRepository stores (Attach, AttachJob) and looks up (Fetch,
// FetchDigest) bundles in repo, a REGISTRY/REPO shared by every image,
// instead of each image's own repository: cosign's COSIGN_REPOSITORY
// model. The bundles are still referrers of the image digest (or of the
// job subject's digest); only the repository they are written to
// changes. Check repo with ParseRepository first; an invalid one fails
// the call that uses it.
func WithRepository(repo string) Option {
	return func(o *options) { o.repository = repo }
}

func newOptions(opts []Option) options {
	o := options{keychain: authn.DefaultKeychain}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func (o options) remote(ctx context.Context) []remote.Option {
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain), remote.WithUserAgent("chaperone")}
	if o.transport != nil {
		ro = append(ro, remote.WithTransport(o.transport))
	}
	return ro
}

func (o options) parse(ref string) (name.Reference, error) {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	return r, nil
}

// Resolve looks an image up in its registry and returns it as an
// in-toto subject: the repository name (e.g. ghcr.io/org/app) and the
// manifest digest (for a multi-platform image, the index digest). A
// reference by digest is checked against what the registry serves.
func Resolve(ctx context.Context, ref string, opts ...Option) (attest.Subject, error) {
	o := newOptions(opts)
	r, err := o.parse(ref)
	if err != nil {
		return attest.Subject{}, err
	}
	desc, err := headImage(ctx, r, o)
	if err != nil {
		return attest.Subject{}, err
	}
	return imageSubject(r, desc), nil
}

func imageSubject(r name.Reference, desc *v1.Descriptor) attest.Subject {
	return attest.Subject{Name: r.Context().Name(), Digest: map[string]string{desc.Digest.Algorithm: desc.Digest.Hex}}
}

// headImage returns the descriptor of the manifest r names (HEAD, falling
// back to GET for registries that do not answer HEAD).
func headImage(ctx context.Context, r name.Reference, o options) (*v1.Descriptor, error) {
	desc, err := remote.Head(r, o.remote(ctx)...)
	if err != nil {
		d, gerr := remote.Get(r, o.remote(ctx)...)
		if gerr != nil {
			return nil, fmt.Errorf("resolving image %s: %w", r, gerr)
		}
		desc = &d.Descriptor
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return nil, fmt.Errorf("resolving image %s: the registry serves digest %s", r, desc.Digest)
	}
	if desc.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("resolving image %s: digest algorithm %s is not supported", r, desc.Digest.Algorithm)
	}
	return desc, nil
}
