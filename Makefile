# Ordem — make targets. `make dev` runs the whole system locally; `make test`
# runs every test against real Postgres (and, for integration, a real
# Temporal server and S3-compatible store started by the tests themselves).

GO            ?= go
BIN           ?= bin/ordem
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOBIN         := $(shell go env GOPATH)/bin
STATICCHECK   ?= $(GOBIN)/staticcheck
VERSITYGW     ?= $(GOBIN)/versitygw
# A Postgres server the tests may create databases on.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export TEST_DATABASE_URL

.PHONY: all build test test-short lint fmt bench dev tools clean fuzz soak faults

all: lint test build

## build: the ordem binary in bin/
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ordem

## test: every test against real Postgres, Temporal (in-process) and S3 (versitygw)
test: $(VERSITYGW)
	PATH="$(GOBIN):$$PATH" $(GO) test -count=1 -timeout 25m ./...

## test-short: unit tests only (no Postgres, no Temporal server)
test-short:
	$(GO) test -short -count=1 ./...

## fuzz: each fuzz target for FUZZTIME (default 30s), one after another
# A failing input is written to the package's testdata/fuzz/<target>/: commit
# it with the fix. `make test` runs every committed corpus as plain tests.
FUZZTIME ?= 30s
# package:target. Go fuzzes one target per invocation; -short keeps the api
# package's TestMain from starting Postgres, Temporal and S3 in every fuzz
# worker (its targets need none).
FUZZ_TARGETS := \
	./internal/money:FuzzParseAmount \
	./internal/sysconfig:FuzzValidate \
	./internal/config:FuzzParse \
	./internal/input:FuzzText \
	./internal/evidence:FuzzCheckName \
	./internal/evidence:FuzzCheckContent \
	./internal/evidence:FuzzParseID \
	./internal/webhook:FuzzSignVerify \
	./internal/webhook:FuzzVerifyHeaders \
	./api:FuzzDecodeJSON \
	./api:FuzzDecimalJSON \
	./api:FuzzConfigValue \
	./api:FuzzCursor \
	./api:FuzzParsePage \
	./api:FuzzIfMatch \
	./api:FuzzPathID \
	./api:FuzzDepositWebhookSignature \
	./api:FuzzDepositWebhookHeaders

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -short -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

## lint: gofmt, go vet and staticcheck must all be clean
lint: tools
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## tools: install the pinned tools (lint; the S3 server the tests run)
tools: $(STATICCHECK) $(VERSITYGW)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

# A real S3-compatible server over a directory (Apache-2.0) for the
# evidence tests.
$(VERSITYGW):
	$(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

## faults: the fault suite alone, rewriting docs/reliability.md's table from its run
faults: $(VERSITYGW)
	PATH="$(GOBIN):$$PATH" ORDEM_WRITE_RELIABILITY=1 $(GO) test -count=1 -v -timeout 60m ./internal/faults/

## soak: the model-based random test with new seeds for DURATION (default 1h); a failure prints its seed and shortest action list
DURATION ?= 1h
soak: $(VERSITYGW)
	PATH="$(GOBIN):$$PATH" $(GO) test -count=1 -v -run '^TestModelRandomActions$$' -timeout 0 ./internal/faults/ -args -model.soak $(DURATION)

## bench: ledger postings/s vs pgbench on this machine, orders index plans (see BENCHMARKS.md)
bench:
	bash scripts/bench.sh

## dev: the whole system locally (embedded Temporal + Web UI, S3 store, Postgres, worker, API)
# Flags go through ARGS, e.g. make dev ARGS="--http-port 9090 --data-dir /tmp/ordem".
dev: $(VERSITYGW)
	bash scripts/dev-prereqs.sh
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ordem
	PATH="$(GOBIN):$$PATH" $(BIN) dev $(ARGS)

clean:
	rm -rf bin
