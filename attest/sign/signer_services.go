package sign

import (
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
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
	tsas  []*sgsign.TimestampAuthority
	tlogs []sgsign.Transparency
}

func newServices(opts Options) services {
	var s services
	if opts.TSAURL != "" {
		o := &sgsign.TimestampAuthorityOptions{URL: tsaEndpoint(opts.TSAURL), Timeout: serviceTimeout, Retries: serviceRetries}
		if opts.HTTPClient != nil {
			o.Transport = opts.HTTPClient.Transport
		}
		s.tsas = append(s.tsas, sgsign.NewTimestampAuthority(o))
	}
	if opts.RekorURL != "" {
		s.tlogs = append(s.tlogs, sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: opts.RekorURL, Timeout: serviceTimeout, Retries: serviceRetries, Version: 1}))
	}
	return s
}

func (s services) any() bool { return s.dated() || s.logged() }

// dated reports whether a TSA timestamps each signature.
func (s services) dated() bool { return len(s.tsas) > 0 }

// logged reports whether a transparency log records each signature.
func (s services) logged() bool { return len(s.tlogs) > 0 }
