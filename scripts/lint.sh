#!/usr/bin/env bash
# Static checks: gofmt, go vet, shellcheck on every script.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
if command -v shellcheck >/dev/null 2>&1; then
	shellcheck scripts/*.sh .ci/run
else
	echo "lint: shellcheck not installed, scripts not checked" >&2
	exit 1
fi
echo "lint: ok"
