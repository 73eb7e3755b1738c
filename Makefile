# Ordem — make targets. `make dev` runs the whole system locally; `make test`
# runs every test against real Postgres (and, for integration, a real
# Temporal server and S3-compatible store started by the tests themselves).

GO            ?= go
BIN           ?= bin/ordem
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK   ?= $(shell go env GOPATH)/bin/staticcheck
# A Postgres server the tests may create databases on.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export TEST_DATABASE_URL

.PHONY: all build test test-short lint fmt bench dev tools clean

all: lint test build

## build: the ordem binary in bin/
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ordem

## test: every test, with the race detector off (the Temporal server is heavy); lint first
test:
	$(GO) test -count=1 -timeout 25m ./...

## test-short: unit tests only (no Postgres, no Temporal server)
test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet and staticcheck must all be clean
lint: tools
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## tools: install the pinned lint tools
tools:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

## bench: ledger postings/s vs pgbench on this machine, orders index plans (see BENCHMARKS.md)
bench:
	bash scripts/bench.sh

## dev: the whole system locally (embedded Temporal, S3, Postgres, worker, API)
dev:
	@echo "make dev: not yet — the embedded dev stack lands with the dev-stack issue."
	@echo "Today: 'ordem migrate up && ordem seed' against DATABASE_URL work (see README)."
	@exit 1

clean:
	rm -rf bin
