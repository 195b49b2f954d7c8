package devstack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// AWS Signature Version 4, server side: enough to verify requests that the
// AWS SDKs and CLI sign with the Authorization header.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
)

// sigV4Authorization is a parsed Authorization header.
type sigV4Authorization struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

func (a *sigV4Authorization) scope() string {
	return strings.Join([]string{a.date, a.region, a.service, sigV4Terminator}, "/")
}

// parseSigV4Authorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
func parseSigV4Authorization(header string) (*sigV4Authorization, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || alg != sigV4Algorithm {
		return nil, fmt.Errorf("unsupported authorization algorithm %q", alg)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("authorization component %q is not key=value", strings.TrimSpace(part))
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, fmt.Errorf("authorization header requires '%s' parameter", k)
		}
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != sigV4Terminator || slices.Contains(cred, "") {
		return nil, errors.New("credential must have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
	}
	return &sigV4Authorization{
		accessKeyID:   cred[0],
		date:          cred[1],
		region:        cred[2],
		service:       cred[3],
		signedHeaders: strings.Split(strings.ToLower(fields["SignedHeaders"]), ";"),
		signature:     strings.ToLower(fields["Signature"]),
	}, nil
}

// sigV4CanonicalRequest builds the canonical request of r as the signer
// saw it. body is the request body already read.
func sigV4CanonicalRequest(r *http.Request, body []byte, signedHeaders []string) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	// Non-S3 services encode the (already escaped) path once more.
	b.WriteString(awsURIEncode(path, false) + "\n")
	b.WriteString(sigV4CanonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signedHeaders {
		b.WriteString(name + ":" + sigV4HeaderValue(r, name) + "\n")
	}
	b.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n")
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// sigV4HeaderValue is a header's canonical value: values trimmed, inner
// runs of spaces collapsed, multiple values joined by commas. Go moves Host
// (and may move Content-Length) out of the header map.
func sigV4HeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	values := r.Header.Values(name)
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// sigV4CanonicalQuery sorts the query by encoded name, then value.
func sigV4CanonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, awsURIEncode(k, true)+"="+awsURIEncode(v, true))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// awsURIEncode percent-encodes every byte except the RFC 3986 unreserved
// characters (and '/' unless encodeSlash), with upper-case hex.
func awsURIEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// sigV4Signature signs a canonical request with a secret access key.
func sigV4Signature(secret, amzDate, date, region, service, canonicalRequest string) string {
	creqHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := strings.Join([]string{
		sigV4Algorithm,
		amzDate,
		strings.Join([]string{date, region, service, sigV4Terminator}, "/"),
		hex.EncodeToString(creqHash[:]),
	}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, sigV4Terminator)
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
