# syntax=docker/dockerfile:1
# billrun: a static binary (no cgo: SQLite is modernc.org/sqlite) on a minimal base, run as non-root.
# The binary is the entrypoint: `docker run IMAGE close --period prev`, `docker run IMAGE schedule`.

# Build on the builder's platform and cross-compile, so multi-arch builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# -buildvcs=false: a copied .git owned by another user makes VCS stamping fail the build.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/billrun ./cmd/billrun

FROM gcr.io/distroless/static-debian12:nonroot
# CA certificates for S3 and PostgreSQL over TLS (the base has them too; this pins them to the build's).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/billrun /usr/local/bin/billrun
# Numeric (distroless' nonroot), so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /home/nonroot
# billrun schedule: /healthz and /metrics.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/billrun"]
