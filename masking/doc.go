// Package masking redacts secrets from streamed output, such as a CI job's
// logs, byte-exactly, without line buffering, in one pass.
//
// A Set holds the registered secrets and the detectors; each output stream
// gets its own Writer from it:
//
//	set := masking.NewSet(masking.Options{})
//	set.Add(token)
//	stdout := set.NewWriter(os.Stdout)
//	defer stdout.Close()
//
// # Contract
//
//   - Every occurrence of a pattern, and every detector match, is redacted;
//     the redactions are the union of all match intervals, and each merged
//     run (overlapping or adjacent matches) becomes one mask token. So is a
//     prefix of a pattern that a carriage return ends (a redrawn line),
//     from half the pattern or 8 bytes on, whichever is less (but not below
//     4 bytes).
//   - The output is the same however the input is split into writes.
//   - A Writer holds back only the bytes of a pending partial match: a
//     suffix of its input that is a proper prefix of a pattern (never more
//     than the longest pattern minus one byte), or the bounded part of a
//     detector match that is masked once the match is complete (at most 256
//     bytes). It releases them when the partial match fails, or on Flush or
//     Close; there is no timer. A line without secret material leaves in the
//     Write that brought it.
//   - Secrets can be added at any time, from any goroutine; they apply to
//     every byte that has not been passed on.
//   - Steady-state Writes allocate nothing.
//
// # Patterns of a secret
//
// Add derives literal patterns from each secret (see variants in
// patterns.go):
//   - the value; its LF and CRLF forms; the value trimmed, unquoted, and
//     with white space runs collapsed (`echo $S` unquoted); the fragments
//     of a multi-line or JSON value that are secret material, not
//     structure (fragments.go): in a JSON object or a value of "key: value"
//     lines (YAML, INI, .env), the values of keys that name a secret and
//     the values that look generated, with all of the forms below; in
//     other values each line (not lines without a letter or digit, nor
//     PEM armor); the parts PowerShell prints around colour codes;
//   - encodings: base64 "stable cores" in the standard and URL alphabets at
//     the three alignments (the characters carrying only secret bits, which
//     appear whatever precedes or follows the value; a match also covers
//     the character carrying its last bits and the padding); JSON escapes
//     (minimal, Go's \u003c form, ASCII-only, "\/", double); URL escapes
//     (RFC 3986 in both hex cases, form encoding with '+', path escaping,
//     encodeURIComponent); XML and HTML entities; shell escapes (\", \\,
//     ”, '\”, printf %q); hex in both cases; UTF-16LE and UTF-16BE of
//     values that are not ASCII (that of ASCII values matches the value,
//     as NUL bytes are invisible); the RFC 3986 form percent-encoded
//     again; and Options.Encoders;
//   - hex with a separator or a prefix per byte ("de:ad", "de ad", xxd's
//     "dead beef", "\xde\xad") and every byte percent-encoded once or
//     twice have no patterns: the hex view (hexview.go) decodes runs of
//     such units and matches the decoded bytes against the patterns; and
//     the wrapped base64 view (wrapview.go) joins the lines of base64
//     wrapped at 64 or 76 columns and matches the patterns across them.
//
// Fragments must be at least Options.MinLength bytes (default 4), encoded
// forms also at least MinEncodedLength (8); shorter secrets are skipped
// with a Warning that never shows the value.
//
// # Detectors
//
// Secrets nobody registered are found in the same pass (Detectors lists
// the ids; Options.Detectors selects them): token prefixes whose following
// token characters are masked whatever their length, the prefix staying
// visible (GitLab's glpat- family and _gitlab_session=, GitHub's ghp_ gho_
// ghs_ ghu_ ghr_ github_pat_, Slack xox?- and xapp-, npm_, Vault hvs.),
// plus Options.TokenPrefixes and Options.Rules with no cap on their number;
// shapes that need their full form (AWS key ids AKIA/ASIA + 16, JWT
// payloads and signatures, PEM private key blocks, URL passwords); and URL
// query parameters that carry credentials. Set.Hits counts matches by rule
// id, for the attestation.
//
// # Escape sequences
//
// Unless Options.NoANSI is set, terminal escape sequences (ESC, and CSI
// sequences such as colours) and NUL bytes are invisible to matching, so a secret with
// colour changes inside it is masked; the sequences inside a masked run
// are written after its token, so the terminal's state is kept. An escape
// sequence never hides a secret, though: what is masked is the union of
// the matches in the visible bytes and those in the raw bytes, so a secret
// that a stray "ESC [" swallows (its first byte read as the sequence's
// final byte, or its digits as parameters) is masked too. Such a match's
// token stands where it begins, and the sequence's bytes before and after
// it are kept. (Detectors look at the visible bytes only.)
//
// # Workflow commands
//
// WithAddMask makes a Writer register the secrets of `::add-mask::` lines
// a job prints before passing the line on (verbatim for the GitHub runner,
// redacted elsewhere); ParseAddMask and UnescapeCommandData parse them.
//
// # Matching
//
// All patterns and detector triggers are found by one scan with hashed
// window filters (index.go) rather than an automaton: the scan tests one
// 8-byte window per 8 bytes of output for the long patterns and a few
// 4-byte windows for the short ones and the detectors' triggers (in
// assembly with AVX2 or AVX-512 where the processor has them, in Go
// elsewhere or with the purego build tag), and verifies candidates only
// on a filter hit. Its state between writes is the last few bytes of
// output. docs/benchmarks.md has the figures.
package masking
