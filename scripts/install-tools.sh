#!/usr/bin/env bash
# Installs the pinned peer tools the tests use (DESIGN §10) into a cache
# that survives between runs: CHAPERONE_TOOLS_DIR, default
# ~/.cache/chaperone/tools. Safe to run repeatedly; builds only what is
# missing.
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

if ! command -v shellcheck >/dev/null 2>&1; then
	if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "install-tools: installing shellcheck (Debian)"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
	else
		echo "install-tools: shellcheck not found; install it to lint scripts" >&2
	fi
fi
