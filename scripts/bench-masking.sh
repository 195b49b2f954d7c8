#!/usr/bin/env bash
# Benchmarks the masker (package masking) on one core and prints a table:
# throughput by number of secrets (each with all its encodings) and write
# size on a generated build log (ANSI colours, progress bars, JSON lines,
# URLs, a leaked secret every 4 KiB), other configurations, the baselines
# measured in the same run (io.Copy, a line masker like the GitHub
# runner's, strings.Replacer), and the matcher's build time and size.
#
# With --cli it also measures `chaperone mask --secrets-file` end to end,
# process start and matcher build included: throughput on a 256 MiB log and
# peak RSS on a 1 GiB stream, with 1,000 secrets.
#
# Environment: BENCH (go test -bench regexp, default all), BENCHTIME (go
# test -benchtime, default 1s), COUNT (runs of each benchmark, default 1:
# with more, each row is the run with the median time, and the range of
# the runs' throughput is added), MASKING_BENCH_MIB (log size, default 64).
# GOFLAGS=-tags=purego measures the pure Go code (no AVX2 or AVX-512).
set -euo pipefail
cd "$(dirname "$0")/.."

cli=false
case "${1:-}" in
--cli) cli=true ;;
"") ;;
*)
	echo "usage: $0 [--cli]" >&2
	exit 2
	;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "# masking benchmarks, one core (GOMAXPROCS=1, -cpu 1)"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "go:      $(go version | cut -d' ' -f3-)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
echo "kernel:  $(uname -sr)"
echo "log:     ${MASKING_BENCH_MIB:-64} MiB generated, written in chunks of the write size"
echo

GOMAXPROCS=1 go test -run '^$' -bench "${BENCH:-.}" -benchmem -cpu 1 -benchtime "${BENCHTIME:-1s}" \
	-count "${COUNT:-1}" ./masking/ >"$work/bench.txt"

# One row per benchmark: throughput, time and allocations per write (or
# per build), and the benchmark's own metrics; of several runs, the one
# with the median time.
awk '
BEGIN {
	printf "| %-44s | %10s | %12s | %9s | %s |\n", "benchmark", "MB/s", "ns/op", "allocs/op", "other"
	printf "|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------:", "-------------:", "----------:", "------"
}
/^Benchmark/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	mbs = "-"; ns = "-"; allocs = "-"; other = ""
	for (i = 3; i < NF; i += 2) {
		v = $i; u = $(i + 1)
		if (u == "MB/s") mbs = v
		else if (u == "ns/op") ns = v
		else if (u == "allocs/op") allocs = v
		else if (u != "B/op") other = other (other == "" ? "" : ", ") v " " u
	}
	if (!(name in runs)) order[++names] = name
	k = ++runs[name]
	nsv[name, k] = ns + 0; row[name, k] = sprintf("| %-44s | %10s | %12s | %9s | %s", name, mbs, ns, allocs, other)
	mb[name, k] = mbs
}
/^(FAIL|panic)/ { failed = 1 }
END {
	for (j = 1; j <= names; j++) {
		name = order[j]; n = runs[name]
		for (a = 1; a <= n; a++) idx[a] = a
		for (a = 2; a <= n; a++)
			for (b = a; b > 1 && nsv[name, idx[b]] < nsv[name, idx[b - 1]]; b--) {
				t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
			}
		r = row[name, idx[int((n + 1) / 2)]]
		if (n > 1 && mb[name, 1] != "-") {
			lo = hi = mb[name, 1] + 0
			for (a = 2; a <= n; a++) {
				v = mb[name, a] + 0
				if (v < lo) lo = v
				if (v > hi) hi = v
			}
			f = hi < 10 ? "%s%d runs: %.2f-%.2f MB/s" : "%s%d runs: %.0f-%.0f MB/s"
			r = r sprintf(f, (r ~ /\| $/ ? "" : ", "), n, lo, hi)
		}
		print r " |"
	}
	exit failed
}
' "$work/bench.txt"

if ! $cli; then
	exit 0
fi

echo
echo "# chaperone mask --secrets-file, end to end (1,000 secrets)"
go build -o "$work/chaperone" ./cmd/chaperone
MASKING_CORPUS_DIR="$work" MASKING_CORPUS_MIB=256 go test -count=1 -run '^TestWriteCorpus$' ./masking/ >/dev/null

/usr/bin/time -o "$work/time.txt" -f '%e %M' \
	"$work/chaperone" mask --secrets-file "$work/secrets.json" <"$work/log" >/dev/null
read -r secs rss <"$work/time.txt"
awk -v s="$secs" -v r="$rss" 'BEGIN { printf "256 MiB: %.2f s, %.0f MiB/s, peak RSS %.1f MiB\n", s, 256 / s, r / 1024 }'

/usr/bin/time -o "$work/time.txt" -f '%e %M' \
	"$work/chaperone" mask --secrets-file "$work/secrets.json" \
	< <(cat "$work/log" "$work/log" "$work/log" "$work/log") >/dev/null
read -r secs rss <"$work/time.txt"
awk -v s="$secs" -v r="$rss" 'BEGIN { printf "1 GiB:   %.2f s, %.0f MiB/s, peak RSS %.1f MiB\n", s, 1024 / s, r / 1024 }'
