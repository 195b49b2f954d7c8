#!/usr/bin/env bash
# Static checks: gofmt, go vet (and the masker's vet on arm64 and 386),
# then shellcheck on every script.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# The masker has assembly for amd64: its pure Go build must vet on the
# other architectures, 32-bit ones included.
for arch in arm64 386; do
	GOARCH="$arch" go vet ./masking/
done
if command -v shellcheck >/dev/null 2>&1; then
	shellcheck scripts/*.sh .ci/run
else
	echo "lint: shellcheck not installed, scripts not checked" >&2
	exit 1
fi
echo "lint: ok"
