package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// serviceTimeout bounds each request to a Sigstore service.
const serviceTimeout = 30 * time.Second

// maxServiceResponse bounds what is read from a Sigstore service.
const maxServiceResponse = 1 << 20

// tsaPath is the RFC 3161 endpoint of a Sigstore timestamp authority.
const tsaPath = "/api/v1/timestamp"

// TrustedRootFor builds a Sigstore trusted root (JSON, media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1) for the
// services named in opts, from their own endpoints:
//
//   - FulcioURL: the CA chain from GET {fulcio}/api/v1/rootCert;
//   - TSAURL: the TSA chain (leaf, intermediates, root) from
//     GET {tsa}/api/v1/timestamp/certchain;
//   - RekorURL: the log's key from GET {rekor}/api/v1/log/publicKey.
//
// It is what `cosign trusted-root create --fulcio … --tsa …` makes from
// the same chains. Fetching trust from the services themselves is trust on
// first use: do it where the network path to them is trusted (the job that
// signs), and publish the result for verifiers, who must not fetch it
// again from the services they are checking. At least one URL is required.
func TrustedRootFor(ctx context.Context, opts Options) ([]byte, error) {
	tr, err := trustedRootFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	out, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("trusted root: encoding: %w", err)
	}
	return out, nil
}

func trustedRootFor(ctx context.Context, opts Options) (*root.TrustedRoot, error) {
	if opts.FulcioURL == "" && opts.TSAURL == "" && opts.RekorURL == "" {
		return nil, errors.New("trusted root: no Fulcio, TSA or Rekor URL given")
	}
	client := opts.httpClient()
	var (
		cas   []root.CertificateAuthority
		tsas  []root.TimestampingAuthority
		tlogs = map[string]*root.TransparencyLog{}
	)
	if opts.FulcioURL != "" {
		ca, err := fetchFulcioCA(ctx, client, opts.FulcioURL)
		if err != nil {
			return nil, err
		}
		cas = append(cas, ca)
	}
	if opts.TSAURL != "" {
		tsa, err := fetchTSA(ctx, client, tsaEndpoint(opts.TSAURL))
		if err != nil {
			return nil, err
		}
		tsas = append(tsas, tsa)
	}
	if opts.RekorURL != "" {
		tl, err := fetchRekorLog(ctx, client, opts.RekorURL)
		if err != nil {
			return nil, err
		}
		tlogs[fmt.Sprintf("%x", tl.ID)] = tl
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, map[string]*root.TransparencyLog{}, tsas, tlogs)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	return tr, nil
}

// tsaEndpoint is the timestamp URL: as given, or with /api/v1/timestamp
// appended to a URL that has no path.
func tsaEndpoint(u string) string {
	u = strings.TrimRight(u, "/")
	if p, err := url.Parse(u); err == nil && p.Path == "" {
		return u + tsaPath
	}
	return u
}

func fetchFulcioCA(ctx context.Context, client *http.Client, base string) (*root.FulcioCertificateAuthority, error) {
	u := strings.TrimRight(base, "/") + "/api/v1/rootCert"
	data, err := httpGet(ctx, client, u)
	if err != nil {
		return nil, fmt.Errorf("trusted root: Fulcio CA: %w", err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("trusted root: Fulcio CA: %s did not return a PEM certificate chain", u)
	}
	rootCert, inter, err := splitChain(certs, false)
	if err != nil {
		return nil, fmt.Errorf("trusted root: Fulcio CA from %s: %w", u, err)
	}
	return &root.FulcioCertificateAuthority{
		Root: rootCert, Intermediates: inter, URI: strings.TrimRight(base, "/"),
		ValidityPeriodStart: rootCert.NotBefore,
	}, nil
}

func fetchTSA(ctx context.Context, client *http.Client, endpoint string) (*root.SigstoreTimestampingAuthority, error) {
	u := endpoint + "/certchain"
	data, err := httpGet(ctx, client, u)
	if err != nil {
		return nil, fmt.Errorf("trusted root: TSA: %w", err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(data)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("trusted root: TSA: %s did not return a PEM certificate chain", u)
	}
	rootCert, rest, err := splitChain(certs, true)
	if err != nil {
		return nil, fmt.Errorf("trusted root: TSA chain from %s: %w", u, err)
	}
	tsa := &root.SigstoreTimestampingAuthority{Root: rootCert, URI: endpoint, ValidityPeriodStart: rootCert.NotBefore}
	if len(rest) > 0 {
		tsa.Leaf, tsa.Intermediates = rest[0], rest[1:]
		tsa.ValidityPeriodStart = tsa.Leaf.NotBefore
	}
	return tsa, nil
}

func fetchRekorLog(ctx context.Context, client *http.Client, base string) (*root.TransparencyLog, error) {
	base = strings.TrimRight(base, "/")
	u := base + "/api/v1/log/publicKey"
	data, err := httpGet(ctx, client, u)
	if err != nil {
		return nil, fmt.Errorf("trusted root: Rekor key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root: Rekor key from %s: %w", u, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("trusted root: Rekor key from %s: %w", u, err)
	}
	id := sha256.Sum256(der)
	return &root.TransparencyLog{
		BaseURL: base, ID: id[:], HashFunc: crypto.SHA256, SignatureHashFunc: crypto.SHA256,
		// The log's key carries no validity period of its own.
		PublicKey: pub, ValidityPeriodStart: time.Unix(0, 0).UTC(),
	}, nil
}

// splitChain finds the self-signed root of a chain and returns it with the
// other certificates in their order (leaf first). A chain must hold
// exactly one root; leafFirst chains (a TSA's) also need a leaf.
func splitChain(certs []*x509.Certificate, leafFirst bool) (*x509.Certificate, []*x509.Certificate, error) {
	var (
		rootCert *x509.Certificate
		rest     []*x509.Certificate
	)
	for _, c := range certs {
		if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
			if rootCert != nil {
				return nil, nil, errors.New("the chain has more than one self-signed root")
			}
			rootCert = c
			continue
		}
		rest = append(rest, c)
	}
	if rootCert == nil {
		return nil, nil, errors.New("the chain has no self-signed root certificate")
	}
	if leafFirst && len(rest) == 0 {
		return nil, nil, errors.New("the chain has no leaf certificate")
	}
	return rootCert, rest, nil
}

// httpGet fetches a small document, failing on any status but 200.
func httpGet(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceResponse+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the response: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, firstLine(data))
	}
	if len(data) > maxServiceResponse {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", u, maxServiceResponse)
	}
	return data, nil
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
