package oci

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/chaperone-ci/chaperone/attest"
)

// jobTagPrefix tags each job's referrer in an attestation repository, so
// that the repository can be listed job by job whether or not the
// registry has a referrers API: jobTagPrefix + the hex SHA-256 of the run
// URI.
const jobTagPrefix = "chaperone-job-"

// maxListed bounds how many jobs List yields from one repository.
const maxListed = 1 << 20

// jobTag is the tag of a job's referrer in the attestation repository.
func jobTag(runURI string) string {
	return jobTagPrefix + attest.JobSubjectDigest(runURI).Hex
}

// A Stored is one job's bundle in an attestation repository. Name says
// where it is; Read fetches it (bounded), so a listing holds no bundle.
type Stored struct {
	Name string
	Read func() ([]byte, error)
}

// List yields every job's bundle stored in the WithRepository repository
// (AttachJob tags each one), in tag order. A listing that fails ends with
// one Stored whose Read returns the error.
func List(ctx context.Context, opts ...Option) iter.Seq[Stored] {
	o := newOptions(opts)
	return func(yield func(Stored) bool) {
		fail := func(err error) { yield(Stored{Name: o.repository, Read: func() ([]byte, error) { return nil, err }}) }
		if o.repository == "" {
			fail(errors.New("listing attestations: no attestation repository (WithRepository)"))
			return
		}
		repo, err := o.repo()
		if err != nil {
			fail(err)
			return
		}
		tags, err := remote.List(repo, o.remote(ctx)...)
		if err != nil {
			fail(fmt.Errorf("listing %s: %w", repo, err))
			return
		}
		n := 0
		for _, tag := range tags {
			if !isJobTag(tag) {
				continue
			}
			if n++; n > maxListed {
				fail(fmt.Errorf("listing %s: more than %d jobs", repo, maxListed))
				return
			}
			ref := repo.Tag(tag)
			if !yield(Stored{Name: ref.String(), Read: func() ([]byte, error) { return readTagged(ctx, ref, o) }}) {
				return
			}
		}
	}
}

// isJobTag reports whether tag is jobTagPrefix and 64 hex digits.
func isJobTag(tag string) bool {
	h, ok := strings.CutPrefix(tag, jobTagPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// readTagged reads the bundle of the referrer manifest tagged ref: exactly
// one layer, of a Sigstore bundle media type, within the size bound.
func readTagged(ctx context.Context, ref name.Tag, o options) ([]byte, error) {
	got, err := remote.Get(ref, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(got.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%s: not an image manifest: %w", ref, err)
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleMediaTypePrefixOCI) {
		return nil, fmt.Errorf("%s is not a Sigstore bundle referrer", ref)
	}
	if m.Layers[0].Size > attest.MaxBundleSize {
		return nil, fmt.Errorf("%s: bundle of %d bytes, more than the %d allowed", ref, m.Layers[0].Size, attest.MaxBundleSize)
	}
	return fetchBlob(ctx, ref.Context().Digest(m.Layers[0].Digest.String()), o)
}
