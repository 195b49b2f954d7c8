// Package masking redacts secrets from streamed output, such as a CI job's
// logs, byte-exactly and without line buffering.
//
// A Set holds the registered secrets; each output stream gets its own
// Writer from it:
//
//	set := masking.NewSet(masking.Options{})
//	set.Add(token)
//	stdout := set.NewWriter(os.Stdout)
//	defer stdout.Close()
//
// The contract:
//   - Every occurrence of a pattern is redacted; the redactions are the
//     union of all match intervals, and each merged run (overlapping or
//     adjacent occurrences) becomes one mask token.
//   - The output is the same however the input is split into writes.
//   - A Writer holds back only a suffix of its input that is a proper prefix
//     of a pattern (never more than the longest pattern minus one byte), and
//     releases it when the partial match fails or on Flush or Close.
//   - Secrets can be added at any time, from any goroutine; they apply to
//     every byte that has not been released.
//
// The patterns of a secret are its value and, for a value with line breaks
// or surrounding blanks, its LF and CRLF forms and each trimmed line that
// holds a letter or digit. Secrets and derived patterns shorter than
// Options.MinLength are not registered; Set.Warnings says which were
// skipped, without their values.
//
// All patterns of a Set are matched in one pass by a single Aho-Corasick
// automaton whose state is carried across writes.
package masking
