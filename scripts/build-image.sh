#!/usr/bin/env bash
# Release build of the container images, from the repository's Dockerfile:
#
#   REPO/chaperone:VERSION-ARCH         target agent: the default, user 65532
#   REPO/chaperone-action:VERSION-ARCH  target action: root, the image that
#                                       action.yml names
#
# For the engine's own architecture both are also tagged REPO/…:VERSION, so
# that a local `docker run` or workflow run finds them. Publishing cannot
# run here: the script only builds and tags, then prints the commands that
# push the per-architecture tags and join them into one multi-arch tag.
#
# The engine's own architecture builds with `docker build` (the legacy
# builder or BuildKit); another one needs BuildKit (`docker buildx`),
# because the legacy builder cannot copy between stages of different
# platforms.
#
# Usage: scripts/build-image.sh [--arch amd64|arm64] [--version VERSION]
#   --arch     default: the engine's architecture
#   --version  default: `git describe --tags --always --dirty`
# Environment:
#   CHAPERONE_IMAGE_REPO     default ghcr.io/chaperone-ci
#   CHAPERONE_BUILD_NETWORK  network of the build's RUN steps (e.g. none for
#                            an offline build stage); default: the builder's
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: $0 [--arch amd64|arm64] [--version VERSION]" >&2
	exit 2
}

arch=""
version=""
while (($# > 0)); do
	case "$1" in
	--arch)
		[[ $# -ge 2 ]] || usage
		arch="$2"
		shift 2
		;;
	--version)
		[[ $# -ge 2 ]] || usage
		version="$2"
		shift 2
		;;
	*) usage ;;
	esac
done

repo="${CHAPERONE_IMAGE_REPO:-ghcr.io/chaperone-ci}"
agent_image="$repo/chaperone"
action_image="$repo/chaperone-action"

native="$(docker version -f '{{.Server.Arch}}')"
arch="${arch:-$native}"
case "$arch" in
amd64 | arm64) ;;
*)
	echo "build-image: unsupported architecture $arch (amd64 or arm64)" >&2
	exit 2
	;;
esac

if [[ -z "$version" ]]; then
	version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
fi
# A tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'.
if [[ ! "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
	echo "build-image: $version is not a valid image tag" >&2
	exit 2
fi
commit="$(git rev-parse HEAD 2>/dev/null || true)"

args=(--build-arg "VERSION=$version" --build-arg "COMMIT=$commit")
if [[ -n "${CHAPERONE_BUILD_NETWORK:-}" ]]; then
	args+=(--network "$CHAPERONE_BUILD_NETWORK")
fi
if [[ "$arch" == "$native" ]]; then
	build=(docker build)
	# The legacy builder sets no platform arguments; BuildKit would set
	# these same values.
	args+=(--build-arg "BUILDPLATFORM=linux/$native" --build-arg TARGETOS=linux --build-arg "TARGETARCH=$arch")
else
	if ! docker buildx version >/dev/null 2>&1; then
		echo "build-image: building for $arch on a $native engine needs BuildKit (docker buildx)" >&2
		exit 1
	fi
	build=(docker buildx build --load --platform "linux/$arch")
fi

start=$SECONDS
echo "build-image: $action_image:$version-$arch (target action)" >&2
"${build[@]}" "${args[@]}" --target action -t "$action_image:$version-$arch" .
echo "build-image: $agent_image:$version-$arch (target agent)" >&2
"${build[@]}" "${args[@]}" --target agent -t "$agent_image:$version-$arch" .
if [[ "$arch" == "$native" ]]; then
	docker tag "$action_image:$version-$arch" "$action_image:$version"
	docker tag "$agent_image:$version-$arch" "$agent_image:$version"
fi
echo "build-image: built in $((SECONDS - start)) s" >&2
docker images --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$action_image:$version-$arch" >&2
docker images --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' "$agent_image:$version-$arch" >&2

cat >&2 <<EOF
build-image: to publish (after building every architecture, amd64 and arm64):
  docker push $agent_image:$version-amd64
  docker push $agent_image:$version-arm64
  docker manifest create $agent_image:$version $agent_image:$version-amd64 $agent_image:$version-arm64
  docker manifest push $agent_image:$version
  docker push $action_image:$version-amd64
  docker push $action_image:$version-arm64
  docker manifest create $action_image:$version $action_image:$version-amd64 $action_image:$version-arm64
  docker manifest push $action_image:$version
EOF
