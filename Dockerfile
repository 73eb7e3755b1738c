# syntax=docker/dockerfile:1
#
# Ordem's one image: the `ordem` binary (API, worker, migrations, seed,
# ledger verify). docker-compose.yml and deploy/k8s run it with `api`,
# `worker` or `migrate up` as the command.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ordem:dev .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so a code change does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# CGO off: a static binary (its embedded SQLite is pure Go), so the final
# image needs no libc of a given version.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/ordem ./cmd/ordem

# Alpine rather than distroless: the compose healthchecks call busybox
# `wget` against /readyz, and the migrate service needs `sh` to chain
# `ordem migrate up && ordem seed`. Still small (a few MB) and non-root.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 ordem \
 && adduser -S -D -H -u 10001 -G ordem -s /sbin/nologin ordem
COPY --from=build /out/ordem /usr/local/bin/ordem
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ordem"]
CMD ["api"]
