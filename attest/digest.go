package attest

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Digest is an artifact digest: an algorithm name as used in in-toto
// digest sets ("sha256", "sha384", "sha512") and the lowercase hex value.
type Digest struct {
	Algorithm string `json:"algorithm"`
	Hex       string `json:"hex"`
}

// String returns "alg:hex".
func (d Digest) String() string { return d.Algorithm + ":" + d.Hex }

var digestSizes = map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}

// ParseDigest parses "alg:hex" (for example "sha256:e3b0c4…"), the form of
// the --digest flag. Uppercase hex is accepted and lowercased.
func ParseDigest(s string) (Digest, error) {
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		return Digest{}, fmt.Errorf("digest %q: want ALGORITHM:HEX, e.g. sha256:<64 hex characters>", s)
	}
	d := Digest{Algorithm: strings.ToLower(alg), Hex: strings.ToLower(h)}
	if err := d.validate(); err != nil {
		return Digest{}, err
	}
	return d, nil
}

// Bytes checks the digest and returns its raw value.
func (d Digest) Bytes() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	return hex.DecodeString(d.Hex)
}

func (d Digest) validate() error {
	size, ok := digestSizes[d.Algorithm]
	if !ok {
		return fmt.Errorf("digest algorithm %q is not supported (use sha256, sha384 or sha512)", d.Algorithm)
	}
	raw, err := hex.DecodeString(d.Hex)
	if err != nil {
		return fmt.Errorf("%s digest is not valid hex", d.Algorithm)
	}
	if len(raw) != size {
		return fmt.Errorf("%s digest has %d bytes, want %d", d.Algorithm, len(raw), size)
	}
	if d.Hex != strings.ToLower(d.Hex) {
		return fmt.Errorf("%s digest must be lowercase hex", d.Algorithm)
	}
	return nil
}
