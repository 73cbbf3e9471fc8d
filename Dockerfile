# syntax=docker/dockerfile:1
# One image, three binaries: /llmroute (the entrypoint, so the injected sidecar only passes args), which execs
# /llmroute-router beside it for `serve` (the lean data plane, without the CRD validator), and /operator (the chart's operator Deployment sets command: ["/operator"]).
#
#   docker build -t registry.example/llmroute:v0.1.0 --build-arg VERSION=v0.1.0 .
#
# The builder runs on the build machine's platform and cross-compiles (no emulation): CGO is off, so the Go
# toolchain needs nothing from the target platform.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src

# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

# Only what the binaries are built from (config/ holds embedded CRDs), so that tests, charts and docs do not
# invalidate the build cache.
COPY api/ api/
COPY cmd/ cmd/
COPY config/ config/
COPY internal/ internal/

ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    for bin in llmroute llmroute-router operator; do \
      CGO_ENABLED=0 GOOS="$TARGETOS" GOARCH="$TARGETARCH" \
        go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o "/out/${bin}" "./cmd/${bin}"; \
    done

# distroless/static: no shell, no package manager, CA certificates for the providers' HTTPS, a nonroot user.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/llmroute /llmroute
COPY --from=build /out/llmroute-router /llmroute-router
COPY --from=build /out/operator /operator
# Numeric, so that runAsNonRoot can verify it without resolving a user name.
USER 65532:65532
ENTRYPOINT ["/llmroute"]
