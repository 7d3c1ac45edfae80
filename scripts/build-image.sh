#!/usr/bin/env bash
# build-image.sh: build the container image shoal:local (called by `make image`).
#
# Needs only Go and a Docker engine; nothing is pulled. The worker and submit
# are built on this host as static binaries (CGO_ENABLED=0) for the engine's
# architecture, staged with a CA bundle and an empty /tmp under
# bin/image/rootfs/, and copied into a FROM scratch image by Dockerfile.
# BuildKit is used when the docker CLI has buildx, the legacy builder otherwise.
#
# Environment (all optional):
#   SHOAL_IMAGE           image name and tag           (default shoal:local)
#   SHOAL_IMAGE_BINARIES  a directory holding prebuilt static linux binaries
#                         `worker` and `submit`: skip the Go build and use them
#   SHOAL_IMAGE_VERSION   org.opencontainers.image.version (default: git describe, else dev)
#   GO                    the go command               (default go)
#
# Prints the image name, its ID and its size on the last lines.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${SHOAL_IMAGE:-shoal:local}"
GO="${GO:-go}"
STAGE=bin/image/rootfs

command -v docker >/dev/null || { echo "build-image: docker not found: install a Docker engine and its CLI" >&2; exit 1; }
if ! ARCH="$(docker version --format '{{.Server.Arch}}' 2>/dev/null)" || [[ -z "$ARCH" ]]; then
	echo "build-image: the Docker engine does not answer (is it running, may this user use it?)" >&2
	exit 1
fi

rm -rf bin/image
mkdir -p "$STAGE/tmp" "$STAGE/etc/ssl/certs"
chmod 1777 "$STAGE/tmp"

if [[ -n "${SHOAL_IMAGE_BINARIES:-}" ]]; then
	for b in worker submit; do
		[[ -x "$SHOAL_IMAGE_BINARIES/$b" ]] || { echo "build-image: $SHOAL_IMAGE_BINARIES/$b is missing or not executable" >&2; exit 1; }
		cp "$SHOAL_IMAGE_BINARIES/$b" "$STAGE/$b"
	done
	echo "build-image: using prebuilt binaries from $SHOAL_IMAGE_BINARIES"
else
	echo "build-image: building worker and submit for linux/$ARCH (CGO_ENABLED=0)"
	CGO_ENABLED=0 GOOS=linux GOARCH="$ARCH" "$GO" build -trimpath -ldflags "-s -w" -o "$STAGE/" ./cmd/worker ./cmd/submit
fi
chmod 0755 "$STAGE/worker" "$STAGE/submit"

# The http handler may POST to https URLs: ship the host's CA bundle.
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
	if [[ -r "$ca" ]]; then
		cp "$ca" "$STAGE/etc/ssl/certs/ca-certificates.crt"
		break
	fi
done
[[ -s "$STAGE/etc/ssl/certs/ca-certificates.crt" ]] || echo "build-image: warning: no CA bundle on this host; https from the http handler will fail" >&2

VERSION="${SHOAL_IMAGE_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

if docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=1
else
	export DOCKER_BUILDKIT=0 # no buildx plugin: the legacy builder, which is enough for this Dockerfile
fi
echo "build-image: docker build -t $IMAGE (DOCKER_BUILDKIT=$DOCKER_BUILDKIT)"
docker build --quiet -f Dockerfile -t "$IMAGE" \
	--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED" . >/dev/null

id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
size="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
echo "build-image: $IMAGE $id"
echo "build-image: size $size bytes ($(( size / 1024 / 1024 )) MiB)"
