#!/usr/bin/env bash
# Measures `chaperone report` over a generated history: N signed job
# attestations over M identities, every other identity with one planted
# anomaly (each kind in turn), plus one tampered bundle. Prints bundles,
# identities, anomalies flagged vs planted, wall time and peak RSS against
# the targets (performance is measured here, never asserted in tests).
# Usage: scripts/bench-report.sh [N] [M]   (default 10000 bundles, 200 identities)
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-10000}"
m="${2:-200}"
target_s=30
target_mib=200
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "bench-report: building chaperone and generating $n bundles over $m identities" >&2
go build -o "$work/chaperone" ./cmd/chaperone
go run ./attest/report/internal/gen/genbundles -out "$work/gen" -identities "$m" -jobs "$n"
bundles="$(find "$work/gen/bundles" -name '*.sigstore.json' | wc -l)"

echo "bench-report: chaperone report --format json" >&2
# The tampered bundle makes the exit status 1; anything else is a failure.
rc=0
if [[ -x /usr/bin/time ]]; then
	/usr/bin/time -v -o "$work/time.txt" "$work/chaperone" report "$work/gen/bundles" \
		--key "$work/gen/key.pub" --format json --out "$work/report.json" 2>"$work/report.err" || rc=$?
	wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$work/time.txt")"
	rss_kib="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")"
else
	# Without GNU time: wall time from date, peak RSS from /proc (VmHWM,
	# sampled until the process ends).
	start="$(date +%s%N)"
	"$work/chaperone" report "$work/gen/bundles" --key "$work/gen/key.pub" --format json \
		--out "$work/report.json" 2>"$work/report.err" &
	pid=$!
	rss_kib=0
	while kill -0 "$pid" 2>/dev/null; do
		hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
		if [[ -n "$hwm" && "$hwm" -gt "$rss_kib" ]]; then
			rss_kib="$hwm"
		fi
		sleep 0.05
	done
	wait "$pid" || rc=$?
	end="$(date +%s%N)"
	wall="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
fi
if [[ "$rc" -ne 1 ]] || ! grep -q "1 of $bundles bundles rejected" "$work/report.err"; then
	echo "bench-report: chaperone report exited $rc, want 1 (the tampered bundle):" >&2
	tail -5 "$work/report.err" >&2
	exit 1
fi
check_rc=0
check="$(go run ./attest/report/internal/gen/genbundles -check "$work/report.json" -planted "$work/gen/planted.json")" || check_rc=$?
read -r _ flagged _ planted _ matched _ _ _ tampered _ identities <<<"$check"
rss_mib="$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')"

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 < t + 0) ? "ok" : "ABOVE TARGET" }'; }
printf '\n%-28s %12s  %s\n' "measure" "value" "target"
printf '%-28s %12s\n' "bundles (1 tampered)" "$bundles"
printf '%-28s %12s\n' "identities" "$identities"
printf '%-28s %12s  %s\n' "anomalies flagged" "$flagged" "= planted, all matched"
printf '%-28s %12s\n' "anomalies planted" "$planted"
printf '%-28s %12s  %s\n' "planted and flagged" "$matched" "$([[ "$check_rc" -eq 0 ]] && echo ok || echo MISMATCH)"
printf '%-28s %12s  %s\n' "tampered bundle rejected" "$tampered" "$([[ "$tampered" -eq 1 ]] && echo ok || echo MISSING)"
printf '%-28s %12s  < %s s: %s\n' "wall time (s)" "$wall" "$target_s" "$(verdict "$wall" "$target_s")"
printf '%-28s %12s  < %s MiB: %s\n' "peak RSS (MiB)" "$rss_mib" "$target_mib" "$(verdict "$rss_mib" "$target_mib")"
printf '%-28s %12s\n' "cores (nproc)" "$(nproc)"
if [[ "$check_rc" -ne 0 ]]; then
	exit 1
fi
