# syntax=docker/dockerfile:1
# HybridRAG storage proxy: a static binary on a distroless, non-root image.
#
#   docker build -t hybridrag-storage-proxy .
#   docker run -d -p 8080:8080 -v hybridrag-data:/data \
#     -e HYBRIDRAG_TOKEN=change-me hybridrag-storage-proxy
#
# Inside the container the proxy listens on 0.0.0.0:8080 so that the container
# network can reach it; that makes it reachable by whatever you publish the
# port to, so set a bearer token (HYBRIDRAG_TOKEN) or keep the port private.
# The registry (registry.yaml) and the default database live in /data.

# The same toolchain as CI (/usr/local/go); scripts/check-dockerfile.sh checks
# the tag against `go version`. Pin by digest too when you can reach a registry.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum are unchanged.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# scripts/check-dockerfile.sh runs this exact line locally in `make test`.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/proxy ./cmd/proxy
# The data folder must belong to the non-root user before it becomes a volume.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/proxy /proxy
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV HYBRIDRAG_DATA=/data \
    HYBRIDRAG_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# No shell or curl in a static image: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/proxy", "healthcheck"]
ENTRYPOINT ["/proxy"]
CMD ["serve"]
