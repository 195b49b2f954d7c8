#!/usr/bin/env bash
# Makes, without an image registry, the base images that the Dockerfile and
# the workflow tests use, and caches what is slow to make:
#
#   local/debian:bookworm  Debian bookworm (debootstrap --variant=minbase)
#                          with ca-certificates, curl and awscli (v2): the job
#                          container of workflow runs (act's
#                          -P ubuntu-latest=local/debian:bookworm).
#   golang:1.26-bookworm   the Dockerfile's build stage, under the name the
#                          Dockerfile uses (a builder never pulls an image
#                          that exists locally): the same Debian rootfs, this
#                          machine's Go, the module cache of go.sum and a Go
#                          build cache warmed by building chaperone once in
#                          it, so that a build of the image only recompiles
#                          what changed.
#
# Caches, under CHAPERONE_CACHE_DIR (default ~/.cache/chaperone):
#   rootfs/debian-bookworm-<key>.tar  the debootstrap rootfs; the key hashes
#                                     the suite, variant, architecture and
#                                     package list.
#   the images themselves, in the engine's data root; the build image is
#   also tagged local/chaperone-build:<key>, where the key hashes go.sum,
#   the Go version and the rootfs key: it is remade only when one changes,
#   from the previous one when only go.sum changed.
#
# Needs a running engine (DOCKER_HOST, see scripts/docker-engine.sh), root
# (debootstrap), and Go matching the Dockerfile's golang tag.
#
# Usage: scripts/base-images.sh [all|rootfs|debian|golang]
#   rootfs only makes the tarball (no engine needed).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
case "$what" in
all | rootfs | debian | golang) ;;
*)
	echo "usage: $0 [all|rootfs|debian|golang]" >&2
	exit 2
	;;
esac

cache_dir="${CHAPERONE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaperone}"
mirror="${CHAPERONE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
debian_image="local/debian:$suite"
# What the job container needs: TLS roots for every provider, curl, and the
# AWS CLI that a later workflow step runs under `chaperone run`.
# python3-cffi-backend is named because debootstrap does not resolve the
# virtual packages python3-cryptography depends on.
packages=ca-certificates,curl,awscli,python3-cffi-backend
# Bump when the way the rootfs or the build image is made changes.
recipe=1

log() { echo "base-images: $*" >&2; }

# A scratch directory of the golang step, removed however the script ends.
work=""
cleanup() { [[ -z "$work" ]] || rm -rf "$work"; }
trap cleanup EXIT

sha() { sha256sum | cut -c1-16; }

mkdir -p "$cache_dir/rootfs"
# One maker at a time: two engineers, or two CI jobs, on one cache.
exec 9>"$cache_dir/base-images.lock"
flock 9

arch="$(dpkg --print-architecture)"
rootfs_key="$(printf 'recipe=%s suite=%s variant=minbase arch=%s packages=%s\n' "$recipe" "$suite" "$arch" "$packages" | sha)"
rootfs_tar="$cache_dir/rootfs/debian-$suite-$rootfs_key.tar"

# make_rootfs writes the debootstrap rootfs tarball, once per key.
make_rootfs() {
	if [[ -s "$rootfs_tar" ]]; then
		log "rootfs cached: $rootfs_tar"
		return
	fi
	if [[ "$(id -u)" != 0 ]]; then
		log "debootstrap needs root"
		exit 1
	fi
	if ! command -v debootstrap >/dev/null 2>&1; then
		log "installing debootstrap (Debian)"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
	fi
	local dir="$cache_dir/rootfs/build-$rootfs_key"
	rm -rf "$dir"
	log "debootstrap $suite minbase + $packages (first run only, about 10 minutes)"
	local start=$SECONDS
	if ! debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1; then
		tail -n 20 "$dir.log" >&2
		log "debootstrap failed; its log is $dir.log"
		exit 1
	fi
	# Package caches and lists are not needed in the image.
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/tmp/*
	tar -C "$dir" --numeric-owner -cf "$rootfs_tar.tmp" .
	mv "$rootfs_tar.tmp" "$rootfs_tar"
	rm -rf "$dir" "$dir.log"
	log "rootfs made in $((SECONDS - start)) s: $rootfs_tar"
}

# image_id prints an image's ID, or nothing when it does not exist.
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# ensure_tag tags image $1 as $2 unless $2 already is that image.
ensure_tag() {
	if [[ "$(image_id "$1")" != "$(image_id "$2")" ]]; then
		docker tag "$1" "$2"
	fi
}

make_debian() {
	local keyed="$debian_image-$rootfs_key"
	if [[ -z "$(image_id "$keyed")" ]]; then
		make_rootfs
		log "importing $rootfs_tar as $keyed"
		docker import \
			-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			-c 'CMD ["/bin/bash"]' \
			"$rootfs_tar" "$keyed" >/dev/null
	fi
	ensure_tag "$keyed" "$debian_image"
	log "$debian_image ready ($keyed)"
}

make_golang() {
	# The build stage's image, as the Dockerfile names it.
	local golang_image
	golang_image="$(sed -n 's/^FROM \(--platform=[^ ]* \)\{0,1\}\(golang:[^ ]*\) AS build$/\2/p' Dockerfile)"
	if [[ -z "$golang_image" ]]; then
		log "Dockerfile has no 'FROM golang:… AS build' line"
		exit 1
	fi
	local want="${golang_image#golang:}"
	want="go${want%%-*}"
	local have goarch
	have="$(go env GOVERSION)"
	goarch="$(go env GOARCH)"
	if [[ "$have" != "$want" && "$have" != "$want".* ]]; then
		log "the Dockerfile builds with $golang_image but this machine has $have"
		exit 1
	fi
	local key
	key="$(
		cat go.sum
		printf 'recipe=%s go=%s arch=%s rootfs=%s\n' "$recipe" "$have" "$goarch" "$rootfs_key"
	)"
	key="$(printf '%s' "$key" | sha)"
	local keyed="local/chaperone-build:$key"
	if [[ -n "$(image_id "$keyed")" ]]; then
		ensure_tag "$keyed" "$golang_image"
		log "$golang_image ready ($keyed)"
		return
	fi

	local start=$SECONDS
	work="$(mktemp -d "$cache_dir/golang-build.XXXXXX")"
	# The module cache of the whole module graph (the Dockerfile runs
	# `go mod download`, which wants all of it), filled from this machine's
	# module cache where it can, then from the configured proxy.
	log "go mod download into a fresh module cache"
	local proxy
	proxy="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
	GOMODCACHE="$work/go/pkg/mod" GOPROXY="$proxy" GOFLAGS=-modcacherw go mod download

	# When only go.sum changed, the previous build image (same Go, same
	# rootfs) is the starting point: its modules and build cache stay, the
	# new modules are added, and only what changed recompiles. Every fifth
	# generation starts afresh from the Debian image, so that superseded
	# modules and cache entries do not pile up.
	local lineage from="$debian_image" generation=0 prev
	lineage="$(printf 'recipe=%s go=%s arch=%s rootfs=%s\n' "$recipe" "$have" "$goarch" "$rootfs_key" | sha)"
	prev="$(docker images --filter "label=dev.chaperone.build.lineage=$lineage" --format '{{.Repository}}:{{.Tag}}' local/chaperone-build | head -n 1)"
	if [[ -n "$prev" ]]; then
		generation="$(docker image inspect -f '{{index .Config.Labels "dev.chaperone.build.generation"}}' "$prev")"
		if [[ "$generation" =~ ^[0-9]+$ ]] && ((generation < 4)); then
			from="$prev"
			generation=$((generation + 1))
		else
			generation=0
		fi
	fi

	# One container copies Go and the module cache in and builds chaperone
	# exactly as the Dockerfile does (same flags, as root, default GOCACHE),
	# filling its build cache; the container is then committed. A build
	# that fails (a tree being edited) still leaves the dependencies warm.
	if [[ "$from" == "$debian_image" ]]; then
		log "warming the Go build cache in a container (cold: 6 to 15 minutes)"
	else
		log "updating $from: new modules, recompiling what changed"
	fi
	local name="chaperone-golang-$key-$$"
	docker rm -f "$name" >/dev/null 2>&1 || true
	local goroot
	goroot="$(go env GOROOT)"
	docker run --name "$name" --network none \
		-v "$goroot:/mnt/goroot:ro" -v "$work/go:/mnt/gopath:ro" -v "$PWD:/mnt/src:ro" \
		-e PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		-e GOPATH=/go -e GOPROXY=off -e GOTOOLCHAIN=local -e CGO_ENABLED=0 \
		-e GOARCH="$goarch" \
		"$from" bash -euc '
			[ -x /usr/local/go/bin/go ] || cp -a /mnt/goroot /usr/local/go
			mkdir -p /go/pkg/mod
			# Module versions never change: add the missing ones only.
			cp -a -n /mnt/gopath/pkg/mod/. /go/pkg/mod/
			cd /mnt/src
			build() { go build -buildvcs=false -trimpath -ldflags "-s -w" -o /tmp/chaperone ./cmd/chaperone; }
			# A second try finishes quickly on what the first one cached.
			if build || build; then
				/tmp/chaperone version
			else
				echo "base-images: chaperone did not build; the build cache is warm for what did" >&2
			fi
			rm -f /tmp/chaperone
		' >&2
	docker commit \
		-c 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'ENV GOPATH=/go' -c 'ENV GOPROXY=off' -c 'ENV GOTOOLCHAIN=local' -c 'ENV CGO_ENABLED=0' \
		-c 'WORKDIR /go' -c 'CMD ["/bin/bash"]' \
		-c "LABEL dev.chaperone.build.lineage=$lineage dev.chaperone.build.generation=$generation" \
		"$name" "$keyed" >/dev/null
	docker rm "$name" >/dev/null
	rm -rf "$work"
	work=""
	ensure_tag "$keyed" "$golang_image"
	# Older build images are superseded (an image the new one was made from
	# stays, untagged, as its parent).
	local old
	while read -r old; do
		[[ "$old" == "$keyed" ]] || docker rmi "$old" >/dev/null 2>&1 || true
	done < <(docker images --format '{{.Repository}}:{{.Tag}}' local/chaperone-build)
	log "$golang_image made in $((SECONDS - start)) s ($keyed)"
}

case "$what" in
rootfs) make_rootfs ;;
debian) make_debian ;;
golang | all)
	# The build image is made from the Debian one.
	make_debian
	make_golang
	;;
esac
