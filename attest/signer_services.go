package attest

import (
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Public Sigstore instance, used by a keyless signer on GitHub Actions
// when no service is configured (as actions/attest does for public
// repositories: Fulcio and Rekor, no TSA).
const (
	PublicFulcioURL = "https://fulcio.sigstore.dev"
	PublicRekorURL  = "https://rekor.sigstore.dev"
)

// serviceRetries is how often a request to a Sigstore service is retried
// on a server error.
const serviceRetries = 2

// services are the timestamp authority and transparency log a signer
// contacts after signing.
type services struct {
	tsas  []*sign.TimestampAuthority
	tlogs []sign.Transparency
}

func newServices(opts SignerOptions) services {
	var s services
	if opts.TSAURL != "" {
		o := &sign.TimestampAuthorityOptions{URL: tsaEndpoint(opts.TSAURL), Timeout: serviceTimeout, Retries: serviceRetries}
		if opts.HTTPClient != nil {
			o.Transport = opts.HTTPClient.Transport
		}
		s.tsas = append(s.tsas, sign.NewTimestampAuthority(o))
	}
	if opts.RekorURL != "" {
		s.tlogs = append(s.tlogs, sign.NewRekor(&sign.RekorOptions{BaseURL: opts.RekorURL, Timeout: serviceTimeout, Retries: serviceRetries, Version: 1}))
	}
	return s
}

func (s services) any() bool { return len(s.tsas) > 0 || len(s.tlogs) > 0 }

// timePolicy is the time evidence a bundle signed through s must carry,
// in the terms of sigstore-go (as sign.Bundle chooses it): the TSA
// timestamp; else for a certificate the log's integrated time, for a key
// nothing.
func (s services) timePolicy(certificate bool) []verify.VerifierOption {
	opts := []verify.VerifierOption{verify.WithoutStatementPredicate()}
	if len(s.tlogs) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	switch {
	case len(s.tsas) > 0:
		opts = append(opts, verify.WithSignedTimestamps(1))
	case certificate && len(s.tlogs) > 0:
		opts = append(opts, verify.WithIntegratedTimestamps(1))
	case certificate:
		opts = append(opts, verify.WithCurrentTime())
	default:
		opts = append(opts, verify.WithNoObserverTimestamps())
	}
	return opts
}
