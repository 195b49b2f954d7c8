#!/usr/bin/env bash
# Measures attestation verification throughput on one core (performance
# is measured by benchmarks and scripts, never asserted in
# tests). Two figures, both with trusted material loaded once:
#   - the Go benchmark: one verify.Verifier checking key-signed bundles;
#   - the CLI: one `chaperone verify --key K --digest D B1 … BN` process.
# Usage: scripts/bench-verify.sh [N]   (N bundles, default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-1000}"
target=1000
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One core: pin to CPU 0 where taskset exists, and one Go P either way.
pin=()
if command -v taskset >/dev/null 2>&1; then
	pin=(taskset -c 0)
fi
export GOMAXPROCS=1

echo "bench-verify: building chaperone and signing $n bundles" >&2
go build -o "$work/chaperone" ./cmd/chaperone
mkdir -p "$work/bundles"
CHAPERONE_BENCH_DIR="$work/bundles" CHAPERONE_BENCH_N="$n" \
	go test -count=1 -run '^TestWriteBenchBundles$' ./attest/verify >/dev/null

echo "bench-verify: Go benchmark (verify.Verifier)" >&2
bench_out="$("${pin[@]}" go test -count=1 -run '^$' -bench '^BenchmarkVerifier$' -cpu 1 -benchtime "${n}x" ./attest/verify)"
go_rate="$(awk '/^BenchmarkVerifier/ { for (i = 1; i <= NF; i++) if ($(i+1) == "bundles/s") print $i }' <<<"$bench_out")"
go_ns="$(awk '/^BenchmarkVerifier/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") print $i }' <<<"$bench_out")"
if [[ -z "$go_rate" ]]; then
	echo "bench-verify: could not read the benchmark's output:" >&2
	echo "$bench_out" >&2
	exit 1
fi

echo "bench-verify: CLI (chaperone verify of $n files in one process)" >&2
bundles=("$work"/bundles/*.sigstore.json)
start="$(date +%s%N)"
"${pin[@]}" "$work/chaperone" verify --key "$work/bundles/key.pub" --digest "$(cat "$work/bundles/digest")" \
	"${bundles[@]}" >/dev/null 2>"$work/verify.err" || {
	echo "bench-verify: chaperone verify failed:" >&2
	tail -5 "$work/verify.err" >&2
	exit 1
}
end="$(date +%s%N)"
cli_s="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
cli_rate="$(awk -v n="${#bundles[@]}" -v s="$cli_s" 'BEGIN { printf "%.0f", n / s }')"

verdict() { awk -v r="$1" -v t="$target" 'BEGIN { print (r >= t) ? "ok" : "BELOW TARGET" }'; }
printf '\n%-34s %8s %10s %12s %10s  %s\n' "method (1 core)" "bundles" "seconds" "bundles/s" "target" "verdict"
printf '%-34s %8s %10s %12.0f %10s  %s\n' "verify.Verifier (go test -bench)" "$n" \
	"$(awk -v ns="$go_ns" -v n="$n" 'BEGIN { printf "%.3f", ns * n / 1e9 }')" "$go_rate" "$target" "$(verdict "$go_rate")"
printf '%-34s %8s %10s %12s %10s  %s\n' "chaperone verify (CLI, 1 process)" "${#bundles[@]}" "$cli_s" "$cli_rate" "$target" "$(verdict "$cli_rate")"
