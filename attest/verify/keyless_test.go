package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/chaperone-ci/chaperone/attest/verify"

	"github.com/chaperone-ci/chaperone/attest/internal/attesttest"
)

// testCert makes a CA certificate (self-signed when parent is nil).
func testCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"chaperone-test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// testTrustedRoot is a trusted root with a CA and, when withTSA, a TSA.
func testTrustedRoot(t *testing.T, withTSA bool) []byte {
	t.Helper()
	rootCert, rootKey := testCert(t, "root", nil, nil)
	inter, _ := testCert(t, "fulcio", rootCert, rootKey)
	cas := []root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: rootCert, Intermediates: []*x509.Certificate{inter}, ValidityPeriodStart: rootCert.NotBefore}}
	var tsas []root.TimestampingAuthority
	if withTSA {
		tsaInter, _ := testCert(t, "tsa", rootCert, rootKey)
		tsas = append(tsas, &root.SigstoreTimestampingAuthority{Root: rootCert, Intermediates: []*x509.Certificate{tsaInter}, ValidityPeriodStart: rootCert.NotBefore})
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, tsas, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeylessVerifyOptionMisuse(t *testing.T) {
	withTSA, noTSA := testTrustedRoot(t, true), testTrustedRoot(t, false)
	s := signExample(t)
	id := func(o verify.Options) verify.Options {
		o.ArtifactDigest = attesttest.JobDigest()
		return o
	}
	for _, tc := range []struct {
		opts verify.Options
		want string
	}{
		{id(verify.Options{PublicKeyPEM: s.pubPEM, CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA}), "not both"},
		{id(verify.Options{CertificateIdentity: "x", TrustedRootJSON: withTSA}), "no certificate OIDC issuer"},
		{id(verify.Options{CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA}), "no certificate identity"},
		{id(verify.Options{CertificateIdentity: "x", CertificateIdentityRegexp: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA}), "not both"},
		{id(verify.Options{CertificateIdentityRegexp: "(", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA}), "regexp"},
		{id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y"}), "needs a trusted root"},
		{id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: []byte("{}")}), "trusted root"},
		{id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: noTSA}), "no timestamp authority"},
		{id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA, TransparencyLog: true}), "no transparency log"},
		{id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA, SignedCertificateTimestamp: true}), "no CT log"},
		{id(verify.Options{PublicKeyPEM: s.pubPEM, TransparencyLog: true}), "apply to certificate identities"},
		{id(verify.Options{PublicKeyPEM: s.pubPEM, TrustedRootJSON: noTSA}), "no timestamp authority"},
	} {
		if _, err := verify.NewVerifier(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewVerifier(%+v) error = %v, want %q", tc.opts, err, tc.want)
		}
	}

	// A key-signed bundle checked against a keyless identity is refused
	// as such, and a key verifier with a TSA root needs a timestamp.
	v, err := verify.NewVerifier(id(verify.Options{CertificateIdentity: "x", CertificateOIDCIssuer: "y", TrustedRootJSON: withTSA}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(s.bundle)
	wantFailure(t, res, err, verify.CheckBundle)
	v, err = verify.NewVerifier(id(verify.Options{PublicKeyPEM: s.pubPEM, TrustedRootJSON: withTSA}))
	if err != nil {
		t.Fatal(err)
	}
	res, err = v.Verify(s.bundle)
	wantFailure(t, res, err, verify.CheckTimestamp)
}
