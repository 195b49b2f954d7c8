#!/usr/bin/env bash
# Checks a built chaperone image:
#   - its size is under 40 MB (CHAPERONE_IMAGE_MAX_BYTES, default 40000000);
#   - its default user is not root (the agent image), or is root with
#     --root (the action image, which GitHub runs as the image's user);
#   - `chaperone version` runs in it with no network, as its default user;
#   - the binary is at /usr/local/bin/chaperone and the CA bundle at
#     /etc/ssl/certs/ca-certificates.crt, with certificates in it;
#   - with --copy-from BASE: an image FROM BASE that copies the binary out
#     of it (`COPY --from=IMAGE /usr/local/bin/chaperone /usr/local/bin/`,
#     as custom runner images do) builds and runs `chaperone version`.
#
# Usage: scripts/check-image.sh [--root] [--copy-from BASE] IMAGE
set -euo pipefail

usage() {
	echo "usage: $0 [--root] [--copy-from BASE] IMAGE" >&2
	exit 2
}

want_root=""
copy_from=""
while (($# > 1)); do
	case "$1" in
	--root)
		want_root=1
		shift
		;;
	--copy-from)
		copy_from="$2"
		shift 2
		;;
	*) usage ;;
	esac
done
(($# == 1)) || usage
image="$1"
max="${CHAPERONE_IMAGE_MAX_BYTES:-40000000}"

failed=0
ok() { echo "check-image: ok    $*"; }
fail() {
	echo "check-image: FAIL  $*" >&2
	failed=1
}

cid=""
tmp=""
cleanup() {
	[[ -z "$cid" ]] || docker rm "$cid" >/dev/null 2>&1 || true
	[[ -z "$tmp" ]] || rm -rf "$tmp"
}
trap cleanup EXIT

if ! docker image inspect "$image" >/dev/null 2>&1; then
	echo "check-image: no image $image" >&2
	exit 1
fi

size="$(docker image inspect -f '{{.Size}}' "$image")"
if ((size < max)); then
	ok "size $size bytes (limit $max)"
else
	fail "size $size bytes, not under $max"
fi

user="$(docker image inspect -f '{{.Config.User}}' "$image")"
uid="${user%%:*}"
if [[ -n "$want_root" ]]; then
	if [[ -z "$uid" || "$uid" == 0 || "$uid" == root ]]; then
		ok "default user is root (${user:-unset}), as a container action must be"
	else
		fail "default user is $user; the action image must run as root"
	fi
else
	if [[ -n "$uid" && "$uid" != 0 && "$uid" != root ]]; then
		ok "default user $user, not root"
	else
		fail "default user is root (${user:-unset})"
	fi
fi

if out="$(docker run --rm --network none "$image" version 2>&1)" && [[ "$out" == chaperone\ * ]]; then
	ok "runs: $out"
else
	fail "'chaperone version' in the image: $out"
fi

cid="$(docker create --network none "$image")"
files="$(docker export "$cid" | tar -t)"
for f in usr/local/bin/chaperone etc/ssl/certs/ca-certificates.crt; do
	if grep -qx "$f" <<<"$files"; then
		ok "/$f present"
	else
		fail "/$f missing"
	fi
done
certs="$(docker cp "$cid:/etc/ssl/certs/ca-certificates.crt" - 2>/dev/null | tar -xO | grep -c 'BEGIN CERTIFICATE' || true)"
if ((certs >= 50)); then
	ok "CA bundle holds $certs certificates"
else
	fail "CA bundle holds ${certs:-no} certificates"
fi

if [[ -n "$copy_from" ]]; then
	tmp="$(mktemp -d)"
	cat >"$tmp/Dockerfile" <<EOF
FROM $copy_from
COPY --from=$image /usr/local/bin/chaperone /usr/local/bin/
RUN chaperone version
EOF
	if built="$(docker build -q --network none "$tmp" 2>"$tmp/log")" &&
		out="$(docker run --rm --network none "$built" chaperone version 2>&1)"; then
		ok "COPY --from into $copy_from: $out"
	else
		fail "COPY --from into $copy_from: $(tail -n 5 "$tmp/log") ${out:-}"
	fi
	[[ -z "${built:-}" ]] || docker rmi "$built" >/dev/null 2>&1 || true
fi

if ((failed)); then
	echo "check-image: $image failed" >&2
	exit 1
fi
echo "check-image: $image ok"
