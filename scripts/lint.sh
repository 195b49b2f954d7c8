#!/usr/bin/env bash
# Static checks: gofmt, go vet (and the masker's vet on arm64 and 386),
# then shellcheck on every script and actionlint on the example workflows
# and on action.yml.
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

# actionlint v1.7.12, built by scripts/install-tools.sh. It lints workflows
# (and the shell of their run: steps, with shellcheck); it reads an action's
# metadata only through a workflow that uses it as a local action from a
# repository that has .github/workflows. So action.yml is linted through a
# one-step workflow, in a scratch repository whose ./action is this one.
tools_dir="${CHAPERONE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaperone/tools}"
actionlint="$tools_dir/actionlint-v1.7.12/actionlint"
if [[ ! -x "$actionlint" ]]; then
	echo "lint: $actionlint not found; run scripts/install-tools.sh" >&2
	exit 1
fi
workflows=()
for f in examples/github/*.yml examples/github/*.yaml .github/workflows/*.yml .github/workflows/*.yaml; do
	[[ -f "$f" ]] && workflows+=("$f")
done
if ((${#workflows[@]} > 0)); then
	"$actionlint" "${workflows[@]}"
fi
if [[ -f action.yml ]]; then
	scratch="$(mktemp -d)"
	trap 'rm -rf "$scratch"' EXIT
	mkdir -p "$scratch/.git" "$scratch/.github/workflows"
	ln -s "$PWD" "$scratch/action"
	cat >"$scratch/.github/workflows/action.yml" <<'EOF'
on: push
jobs:
  action:
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    steps:
      - uses: ./action
EOF
	(cd "$scratch" && "$actionlint" .github/workflows/action.yml)
fi
echo "lint: ok"
