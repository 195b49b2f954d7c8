# The chaperone image: one static binary at /usr/local/bin/chaperone, the
# CA bundle (keyless signing and every provider speak TLS), nothing else.
#
# Two targets:
#   action  runs as root, as GitHub requires of a container action (its
#           runner mounts the workspace and the file-command files, owned
#           by the runner's user, and documents that the image must not set
#           USER): ghcr.io/chaperone-ci/chaperone-action, named by action.yml.
#   agent   the default (last) stage, user 65532:65532, for custom runner
#           images and agents: ghcr.io/chaperone-ci/chaperone, and a stage to
#           copy the binary from:
#             COPY --from=ghcr.io/chaperone-ci/chaperone:VERSION /usr/local/bin/chaperone /usr/local/bin/
#
#   docker build --target action -t ghcr.io/chaperone-ci/chaperone-action:VERSION .
#   docker build -t ghcr.io/chaperone-ci/chaperone:VERSION .
#   docker buildx build --platform linux/amd64,linux/arm64 ...
#
# With BuildKit the build stage runs on the builder's own platform and
# cross-compiles for TARGETOS/TARGETARCH. The legacy builder sets none of
# these: it builds for its own platform, given BUILDPLATFORM and TARGETARCH
# as build args (scripts/build-image.sh passes them).

ARG BUILDPLATFORM
FROM --platform=${BUILDPLATFORM:-linux/amd64} golang:1.26-bookworm AS build

# The runtime's few files besides the binary: the CA bundle, a /tmp,
# passwd and group entries naming root and the non-root user, and
# /chaperone-action-post, the binary under the name action.yml's
# post-entrypoint runs.
RUN set -eu; \
	mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/root /rootfs/usr/local/bin /home-nonroot; \
	cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
	chmod 1777 /rootfs/tmp; \
	ln -s usr/local/bin/chaperone /rootfs/chaperone-action-post; \
	chmod 0700 /rootfs/root /home-nonroot; \
	printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >/rootfs/etc/passwd; \
	printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >/rootfs/etc/group

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH}" \
	go build -trimpath \
	-ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
	-o /rootfs/usr/local/bin/chaperone ./cmd/chaperone

FROM scratch AS action
COPY --from=build /rootfs/ /
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="chaperone" \
	org.opencontainers.image.description="Short-lived federated credentials for CI jobs, masked, revoked and attested" \
	org.opencontainers.image.source="https://github.com/chaperone-ci/chaperone" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${COMMIT}"
ENTRYPOINT ["/usr/local/bin/chaperone"]

FROM action AS agent
COPY --from=build --chown=65532:65532 /home-nonroot /home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
