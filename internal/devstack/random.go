package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
)

const (
	lowerChars  = "abcdefghijklmnopqrstuvwxyz"
	upperChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars  = "0123456789"
	alnumChars  = lowerChars + upperChars + digitChars
	punctChars  = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	base64Chars = alnumChars + "+/"
)

// randomString returns n characters drawn uniformly from alphabet with
// crypto/rand. It panics only if the system's random source fails, which
// crypto/rand itself treats as fatal.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	limit := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, limit)
		if err != nil {
			panic(fmt.Sprintf("devstack: crypto/rand: %v", err))
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// randomDigits returns a decimal number of exactly n digits (no leading
// zero), the shape of GitHub and GitLab numeric ids.
func randomDigits(n int) string {
	return randomString(1, "123456789") + randomString(n-1, digitChars)
}

// randomHex returns n random bytes as lowercase hex (2n characters).
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("devstack: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// randomUUID returns a version 4 UUID, the format of the jti claim.
func randomUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("devstack: crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomPassword returns a password of n (≥ 8) characters with at least two
// punctuation characters, a digit, an upper- and a lower-case letter, so
// that seeded secrets exercise every escaping path of the masker (quotes,
// backslash, percent, ampersand, angle brackets, dollar, backtick).
func randomPassword(n int) string {
	b := []byte(randomString(2, punctChars) + randomString(1, digitChars) +
		randomString(1, upperChars) + randomString(1, lowerChars) +
		randomString(n-5, alnumChars+punctChars))
	// Fisher-Yates, so the guaranteed classes are not always in front.
	for i := len(b) - 1; i > 0; i-- {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			panic(fmt.Sprintf("devstack: crypto/rand: %v", err))
		}
		j := int(v.Int64())
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
