#!/usr/bin/env bash
# Installs the pinned tools that the tests and lint use, real peers rather
# than mocks, into a cache that survives between runs: CHAPERONE_TOOLS_DIR,
# default ~/.cache/chaperone/tools, one directory per tool and version
# (NAME-VERSION/NAME). Safe to run repeatedly; builds only what is missing.
set -euo pipefail

tools_dir="${CHAPERONE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaperone/tools}"

install_go_tool() {
	local name="$1" module="$2" version="$3"
	local dir="$tools_dir/$name-$version"
	if [[ -x "$dir/$name" ]]; then
		echo "install-tools: $name $version cached in $dir"
		return
	fi
	echo "install-tools: building $name $version (first run only)"
	mkdir -p "$dir"
	(cd "${TMPDIR:-/tmp}" && GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$module@$version")
}

install_go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign v2.6.5
# Keyless signing peers (e2e/keyless_test.go runs them in `unshare -n`).
install_go_tool fulcio github.com/sigstore/fulcio v1.8.8
install_go_tool timestamp-server github.com/sigstore/timestamp-authority/cmd/timestamp-server v1.2.9
# Lints action.yml and the example workflows (scripts/lint.sh).
install_go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint v1.7.12
# Runs a real workflow against the action on a local Docker engine (about
# 8 minutes to build on two cores, the first time).
install_go_tool act github.com/nektos/act v0.2.89
# MinIO, a real STS server for the aws provider (e2e/minio_test.go runs
# it on loopback; it is a peer binary, never linked into chaperone). MinIO
# tags no Go module versions, so the module proxy serves this commit of
# 2026-02-12 as a pseudo-version. About 5 minutes to build on two cores,
# the first time (docs/peers.md).
install_go_tool minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c

# Debian packages: shellcheck (lint) and docker-registry (distribution
# 2.8.2, the OCI registry of e2e/oci_test.go, which writes its own
# loopback-only config; the package's service is never started).
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
# chromium: e2e/report_browser_test.go renders report's HTML page headless.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]} > 0)); then
	if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "install-tools: installing ${missing[*]} (Debian)"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "install-tools: ${missing[*]} not found; install with apt-get (shellcheck lints scripts; docker-registry serves the OCI e2e tests; chromium renders the report page)" >&2
	fi
fi
