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
#
# BASE (a git revision) measures that revision in the same run, for a
# before/after comparison on a machine whose speed varies: its runs and
# this tree's alternate, and each row gets the median throughput of BASE's
# runs and the change. With --cli, BASE's chaperone runs alternately with
# this tree's too.
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

base="${BASE:-}"
if [[ -n "$base" ]]; then
	rev="$(git rev-parse --short "$base^{commit}")"
	echo "base:    $base ($rev), measured alternately with this tree ($(git rev-parse --short HEAD) and its changes)"
	# The revision's files, read from git (the working tree is not touched).
	mkdir "$work/base"
	git archive "$rev" | tar -x -C "$work/base"
	(cd "$work/base" && go test -c -o "$work/base.test" ./masking/)
fi
echo
go test -c -o "$work/new.test" ./masking/

# One run of each benchmark (in the package directory, as go test runs).
bench() {
	(cd masking && GOMAXPROCS=1 "$1" -test.run '^$' -test.bench "${BENCH:-.}" -test.benchmem -test.cpu 1 \
		-test.benchtime "${BENCHTIME:-1s}")
}
: >"$work/bench.txt"
: >"$work/base.txt"
for _ in $(seq "${COUNT:-1}"); do
	if [[ -n "$base" ]]; then
		bench "$work/base.test" >>"$work/base.txt"
	fi
	bench "$work/new.test" >>"$work/bench.txt"
done

# One row per benchmark: throughput, time and allocations per write (or
# per build), and the benchmark's own metrics; of several runs, the one
# with the median time. With a base, its median throughput and the change.
awk -v basefile="$work/base.txt" -v hasbase="$([[ -n "$base" ]] && echo 1 || echo 0)" '
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
	if (FILENAME == basefile) {
		bk = ++bruns[name]
		bmb[name, bk] = mbs + 0
		next
	}
	if (!(name in runs)) order[++names] = name
	k = ++runs[name]
	nsv[name, k] = ns + 0; row[name, k] = sprintf("| %-44s | %10s | %12s | %9s | %s", name, mbs, ns, allocs, other)
	mb[name, k] = mbs
}
/^(FAIL|panic)/ { failed = 1 }
function median(arr, name, n,    a, b, t, v) {
	for (a = 1; a <= n; a++) v[a] = arr[name, a]
	for (a = 2; a <= n; a++)
		for (b = a; b > 1 && v[b] < v[b - 1]; b--) { t = v[b]; v[b] = v[b - 1]; v[b - 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
END {
	if (hasbase) {
		printf "| %-44s | %10s | %12s | %9s | %10s | %7s | %s |\n", "benchmark", "MB/s", "ns/op", "allocs/op", "base MB/s", "change", "other"
		printf "|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------:", "-------------:", "----------:", "-----------:", "--------:", "------"
	} else {
		printf "| %-44s | %10s | %12s | %9s | %s |\n", "benchmark", "MB/s", "ns/op", "allocs/op", "other"
		printf "|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------:", "-------------:", "----------:", "------"
	}
	for (j = 1; j <= names; j++) {
		name = order[j]; n = runs[name]
		for (a = 1; a <= n; a++) idx[a] = a
		for (a = 2; a <= n; a++)
			for (b = a; b > 1 && nsv[name, idx[b]] < nsv[name, idx[b - 1]]; b--) {
				t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
			}
		r = row[name, idx[int((n + 1) / 2)]]
		if (hasbase) {
			split(r, cols, "|")
			bm = "-"; ch = "-"
			if ((name in bruns) && mb[name, 1] != "-") {
				bmed = median(bmb, name, bruns[name])
				nmed = 0
				for (a = 1; a <= n; a++) nv[name, a] = mb[name, a] + 0
				nmed = median(nv, name, n)
				bm = sprintf(bmed < 10 ? "%.2f" : "%.0f", bmed)
				if (bmed > 0) ch = sprintf("%+.1f%%", 100 * (nmed / bmed - 1))
			}
			r = sprintf("|%s|%s|%s|%s| %10s | %7s |%s", cols[2], cols[3], cols[4], cols[5], bm, ch, cols[6])
		}
		if (n > 1 && mb[name, 1] != "-") {
			lo = hi = mb[name, 1] + 0
			for (a = 2; a <= n; a++) {
				v = mb[name, a] + 0
				if (v < lo) lo = v
				if (v > hi) hi = v
			}
			f = hi < 10 ? "%s%d runs: %.2f-%.2f MB/s" : "%s%d runs: %.0f-%.0f MB/s"
			r = r sprintf(f, (r ~ /\| $/ || r ~ /\|$/ ? "" : ", "), n, lo, hi)
		}
		print r " |"
	}
	exit failed
}
' "$work/base.txt" "$work/bench.txt"

if ! $cli; then
	exit 0
fi

echo
echo "# chaperone mask --secrets-file, end to end (1,000 secrets)"
go build -o "$work/chaperone" ./cmd/chaperone
MASKING_CORPUS_DIR="$work" MASKING_CORPUS_MIB=256 go test -count=1 -run '^TestWriteCorpus$' ./masking/ >/dev/null
bins=(chaperone)
if [[ -n "$base" ]]; then
	(cd "$work/base" && go build -o "$work/chaperone-base" ./cmd/chaperone)
	bins=(chaperone-base chaperone)
fi

for _ in $(seq "${COUNT:-1}"); do
	for b in "${bins[@]}"; do
		/usr/bin/time -o "$work/time.txt" -f '%e %M' \
			"$work/$b" mask --secrets-file "$work/secrets.json" <"$work/log" >/dev/null
		read -r secs rss <"$work/time.txt"
		awk -v b="$b" -v s="$secs" -v r="$rss" 'BEGIN { printf "%-15s 256 MiB: %.2f s, %.0f MiB/s, peak RSS %.1f MiB\n", b, s, 256 / s, r / 1024 }'

		/usr/bin/time -o "$work/time.txt" -f '%e %M' \
			"$work/$b" mask --secrets-file "$work/secrets.json" \
			< <(cat "$work/log" "$work/log" "$work/log" "$work/log") >/dev/null
		read -r secs rss <"$work/time.txt"
		awk -v b="$b" -v s="$secs" -v r="$rss" 'BEGIN { printf "%-15s 1 GiB:   %.2f s, %.0f MiB/s, peak RSS %.1f MiB\n", b, s, 1024 / s, r / 1024 }'
	done
done
