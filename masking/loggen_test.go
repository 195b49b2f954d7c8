package masking

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
)

// Generated workloads for tests and benchmarks: secrets of the kinds CI
// jobs hold, and build logs of the kinds CI jobs print.

// genSecrets returns n distinct secrets: API tokens (alphanumeric,
// base64url, hex, provider-prefixed) and passwords with punctuation, 12 to
// 80 bytes.
func genSecrets(r *rand.Rand, n int) []string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const punct = "!@#$%^&*()-_=+[]{};:,.<>/?~|'\" "
	word := func(chars string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var s string
		switch k := r.IntN(10); {
		case k < 3:
			s = word(alnum, 20+r.IntN(41))
		case k < 5:
			raw := make([]byte, 16+r.IntN(33))
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			s = base64.RawURLEncoding.EncodeToString(raw)
		case k < 6:
			raw := make([]byte, 20)
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			s = hex.EncodeToString(raw)
		case k < 7:
			s = []string{"ghs_", "glpat-", "npm_", "hvs.", "xoxb-"}[r.IntN(5)] + word(alnum, 36)
		default:
			b := []byte(word(alnum, 12+r.IntN(13)))
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = punct[r.IntN(len(punct))]
			}
			s = string(b)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// genLog returns size bytes of build log: compiler and test output with
// ANSI colours, progress bars redrawn with CR and erase-line, JSON log
// lines, URLs and timestamps. Every secretEvery bytes (0: never) it prints
// one of secrets, raw or encoded the way jobs leak them.
func genLog(r *rand.Rand, size, secretEvery int, secrets []string) []byte {
	words := strings.Fields(`the build step compiling package github.com/acme/widget ok PASS FAIL
		downloading layer sha256 Requirement already satisfied npm WARN deprecated RUN go test race
		cached Successfully built image warning error note declared here module resolve fetch from
		registry npmjs org node_modules webpack chunk emitted bytes gradle task assemble debug release
		java lang String Integer kotlin coroutines android test junit cargo rustc Compiling Finished
		target release dev profile optimized pip install wheel Collecting Building cmake make gcc`)
	log := make([]byte, 0, size+256)
	next := secretEvery
	ts := int64(1732500000)
	for len(log) < size {
		if secretEvery > 0 && len(log) >= next {
			log = append(log, leakLine(r, secrets[r.IntN(len(secrets))])...)
			next += secretEvery
			continue
		}
		ts += int64(r.IntN(3))
		switch k := r.IntN(20); {
		case k < 6: // compiler / plain output
			log = fmt.Appendf(log, "%s ", fmt.Sprint(ts))
			for range 4 + r.IntN(10) {
				log = append(log, words[r.IntN(len(words))]...)
				log = append(log, ' ')
			}
			log = append(log, '\n')
		case k < 10: // coloured test results
			colour := []string{"32", "31", "33", "36", "1;34", "90"}[r.IntN(6)]
			log = fmt.Appendf(log, "\x1b[%sm%s\x1b[0m %s/%s (%d.%02ds)\n", colour,
				[]string{"--- PASS:", "--- FAIL:", "ok", "WARN", "✓", "✗"}[r.IntN(6)],
				words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(10), r.IntN(100))
		case k < 12: // progress bar, redrawn
			n := r.IntN(41)
			log = fmt.Appendf(log, "\r\x1b[K[%s>%s] %3d%% %d.%dMB/s", strings.Repeat("=", n),
				strings.Repeat(" ", 40-n), n*100/40, r.IntN(100), r.IntN(10))
			if n == 40 {
				log = append(log, '\n')
			}
		case k < 17: // JSON log line
			log = fmt.Appendf(log, `{"time":"2024-11-25T%02d:%02d:%02d.%03dZ","level":"%s","msg":"%s %s","duration_ms":%d,"request_id":"%08x-%04x"}`+"\n",
				r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), []string{"info", "debug", "warn"}[r.IntN(3)],
				words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(5000), r.Uint32(), r.IntN(65536))
		default: // URLs
			log = fmt.Appendf(log, "GET https://%s.example.com/v2/%s/blobs/sha256:%016x?n=%d 200 OK\n",
				words[r.IntN(len(words))], words[r.IntN(len(words))], r.Uint64(), r.IntN(100))
		}
	}
	return log[:size]
}

// leakLine prints secret as a job might: raw, in an env dump, base64
// encoded with a prefix and a trailing newline, URL- or JSON-escaped, in a
// colour, or as hex.
func leakLine(r *rand.Rand, secret string) string {
	switch r.IntN(7) {
	case 0:
		return "export TOKEN=" + secret + "\n"
	case 1:
		prefix := []string{"", "u:", "user:", "Basic "}[r.IntN(4)]
		return "Authorization: " + base64.StdEncoding.EncodeToString([]byte(prefix+secret+"\n")) + "\n"
	case 2:
		return "curl https://api.example.com/?q=" + url.QueryEscape(secret) + "\n"
	case 3:
		return `{"password":"` + jsonEscape(secret, false) + `"}` + "\n"
	case 4:
		return "\x1b[33m" + secret[:len(secret)/2] + "\x1b[1m" + secret[len(secret)/2:] + "\x1b[0m\n"
	case 5:
		return "key: " + hex.EncodeToString([]byte(secret)) + "\n"
	default:
		return "+ echo '" + strings.ReplaceAll(secret, "'", `'\''`) + "'\n"
	}
}
