package masking

import (
	"io"
	"math/rand/v2"
	"testing"
)

// benchSetup returns a Set of n random secrets (16-80 bytes of the base64url
// alphabet, like API tokens) and size bytes of log text: lines of words and
// numbers with one of the secrets about every secretEvery bytes.
func benchSetup(n, size, secretEvery int) (*Set, []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	secrets := make([]string, n)
	for i := range secrets {
		b := make([]byte, 16+r.IntN(65))
		for j := range b {
			b[j] = tokenChars[r.IntN(len(tokenChars))]
		}
		secrets[i] = string(b)
	}
	set := NewSet(Options{})
	set.Add(secrets...)

	words := []string{"the", "build", "step", "INFO", "ERROR", "warning:", "compiling", "package", "github.com/acme/widget",
		"ok", "PASS", "FAIL", "--- ", "downloading", "layer", "sha256:", "Requirement", "already", "satisfied", "npm", "WARN",
		"deprecated", "=>", "[2/7]", "RUN", "go", "test", "-race", "./...", "(cached)", "Successfully", "built", "image"}
	log := make([]byte, 0, size)
	next := secretEvery
	for len(log) < size {
		switch {
		case len(log) >= next:
			log = append(log, secrets[r.IntN(n)]...)
			next += secretEvery
		case r.IntN(12) == 0:
			log = append(log, '\n')
		case r.IntN(5) == 0:
			log = append(log, byte('0'+r.IntN(10)), byte('0'+r.IntN(10)), '.', byte('0'+r.IntN(10)))
		default:
			log = append(log, words[r.IntN(len(words))]...)
		}
		log = append(log, ' ')
	}
	return set, log[:size]
}

// BenchmarkWriter streams log text through a Writer of a Set of 1,000
// secrets in 64 KiB writes.
func BenchmarkWriter(b *testing.B) {
	for _, c := range []struct {
		name        string
		secretEvery int
	}{
		{"secret-per-4KiB", 4 << 10},
		{"secret-per-256B", 256},
	} {
		b.Run(c.name, func(b *testing.B) {
			const chunk = 64 << 10
			set, log := benchSetup(1000, 16<<20, c.secretEvery)
			w := set.NewWriter(io.Discard)
			w.Write(log[:chunk]) // build the matcher outside the timing
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			off := 0
			for range b.N {
				if _, err := w.Write(log[off : off+chunk]); err != nil {
					b.Fatal(err)
				}
				off = (off + chunk) % len(log)
			}
		})
	}
}

// BenchmarkBuild measures compiling the matcher for 1,000 secrets.
func BenchmarkBuild(b *testing.B) {
	set, _ := benchSetup(1000, 0, 1)
	pats := set.snapshot()
	b.ReportAllocs()
	for i := range b.N {
		build(pats, uint64(i))
	}
}
