#!/usr/bin/env bash
# Measures what `chaperone run` adds to a job: wall time and peak RSS of
# `chaperone run -- true` with three scopes (vault, aws, github) on the
# devstack, against `true` alone. Prints a table. RUNS (default 30) sets
# the number of runs of each.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${RUNS:-30}"
work="$(mktemp -d)"
devstack_pid=""
cleanup() {
	if [[ -n "$devstack_pid" ]]; then
		kill -INT "$devstack_pid" 2>/dev/null || true
		wait "$devstack_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/chaperone" ./cmd/chaperone
"$work/chaperone" devstack --env-file "$work/devstack.env" --dir "$work/stack" >"$work/devstack.log" 2>&1 &
devstack_pid=$!
for _ in $(seq 100); do
	[[ -s "$work/devstack.env" ]] && break
	sleep 0.1
done
set -a
# shellcheck disable=SC1091
. "$work/devstack.env"
set +a

cat >"$work/three-scopes.yml" <<YAML
version: 1
scopes:
  - name: db
    provider: vault
    address: $CHAPERONE_DEVSTACK_VAULT_ADDR
    role: ci
    audience: chaperone-devstack
    secrets: [{path: secret/data/ci/db, field: password, env: DB_PASSWORD}]
  - name: deploy
    provider: aws
    role-arn: arn:aws:iam::123456789012:role/chaperone-devstack
    region: us-east-1
    endpoint: $CHAPERONE_DEVSTACK_STS_URL
    audience: chaperone-devstack
  - name: repo
    provider: github
    address: $CHAPERONE_DEVSTACK_GITHUB_STS_URL
    api: $CHAPERONE_DEVSTACK_GITHUB_API_URL
    audience: chaperone-devstack
    scope: chaperone-ci/devstack-demo
    identity: ci
attest:
  signer: key:$CHAPERONE_DEVSTACK_SIGNING_KEY
  output: $work/bench.sigstore.json
YAML

# measure NAME CMD...: appends "wall_ms rss_kib" lines to $work/NAME.
measure() {
	local name="$1"
	shift
	local start end
	for _ in $(seq "$runs"); do
		start=$(date +%s%N)
		/usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/last.err"
		end=$(date +%s%N)
		echo "$(((end - start) / 1000000)) $(tail -n1 "$work/rss")" >>"$work/$name"
	done
}

# column FILE N PCT: the PCT percentile of column N.
percentile() {
	local file="$1" col="$2" pct="$3"
	local n idx
	n=$(wc -l <"$file")
	idx=$(((n * pct + 99) / 100))
	((idx < 1)) && idx=1
	cut -d' ' -f"$col" "$file" | sort -n | sed -n "${idx}p"
}

measure true /bin/true
measure run "$work/chaperone" run --config "$work/three-scopes.yml" -- /bin/true

true_ms=$(percentile "$work/true" 1 50)
run_ms=$(percentile "$work/run" 1 50)
run_p90=$(percentile "$work/run" 1 90)
true_rss=$(percentile "$work/true" 2 100)
run_rss=$(percentile "$work/run" 2 100)
over_ms=$((run_ms - true_ms))
over_mib=$(((run_rss - true_rss + 1023) / 1024))

printf '%-44s %10s %10s %14s\n' "command ($runs runs each)" "median ms" "p90 ms" "peak RSS MiB"
printf '%-44s %10s %10s %14s\n' "true" "$true_ms" "$(percentile "$work/true" 1 90)" "$(((true_rss + 1023) / 1024))"
printf '%-44s %10s %10s %14s\n' "chaperone run -- true (vault, aws, github)" "$run_ms" "$run_p90" "$(((run_rss + 1023) / 1024))"
printf '%-44s %10s %10s %14s\n' "overhead" "$over_ms" "" "$over_mib"
printf '%-44s %10s %10s %14s\n' "target" "≤ 150" "" "≤ 50"
if ((over_ms > 150 || over_mib > 50)); then
	echo "bench-run: over target" >&2
	exit 1
fi
