# shoal worker image, FROM scratch around static binaries built on the host.
#
#   make image                 # = scripts/build-image.sh: builds the binaries, then this
#
# The build context is the repository root; scripts/build-image.sh stages
# everything the image holds under bin/image/rootfs/ first (the worker and
# submit built with CGO_ENABLED=0, the host's CA bundle for the http handler,
# an empty /tmp). Nothing is pulled: this Dockerfile builds offline with the
# legacy builder or BuildKit. On a host that reaches a registry,
# Dockerfile.multistage builds the binaries inside a golang image instead.
FROM scratch

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="shoal" \
      org.opencontainers.image.description="shoal worker: Go job-queue nodes that form one cluster (embedded Olric + NATS)" \
      org.opencontainers.image.source="https://github.com/shoal-dev/shoal" \
      org.opencontainers.image.url="https://github.com/shoal-dev/shoal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="scratch"

# /worker, /submit, /etc/ssl/certs/ca-certificates.crt, /tmp.
COPY --chown=0:0 bin/image/rootfs/ /

# Listen on every interface of the container. The address the other nodes
# reach this one at comes from SHOAL_ADVERTISE_ADDR (an IP, or "auto": the
# IP of the default route's interface) or POD_IP; see docker-compose.yml.
ENV SHOAL_BIND_ADDR=0.0.0.0 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# Olric, memberlist (TCP and UDP), NATS clients, NATS routes, HTTP.
EXPOSE 3320/tcp 3322/tcp 3322/udp 4222/tcp 6222/tcp 8080/tcp

# Non-root, numeric (no /etc/passwd in scratch), the distroless "nonroot" ids.
USER 65532:65532

# Exec form: the worker is PID 1 and receives SIGTERM itself, so
# `docker stop` / `docker compose stop` / scale-down drain the node.
ENTRYPOINT ["/worker"]
