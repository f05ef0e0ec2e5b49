# HybridRAG storage proxy. `make test` is the project's test command (CI runs
# it through .ci/run); `make run` starts the proxy on 127.0.0.1:8080.

GO        ?= go
FUZZTIME  ?= 50000x
PG_ENV    := .cache/pg.env
# Tests that need PostgreSQL read HYBRIDRAG_TEST_PG from here and skip without it.
LOAD_PG   := if [ -f $(PG_ENV) ]; then . ./$(PG_ENV); fi;
# The proxy binary the end-to-end, bench and Python tests run, built once per
# make run and shared (internal/testbin, clients/python/tests/proxyserver.py).
TEST_BIN  := .cache/bin/proxy
USE_BIN   := export HYBRIDRAG_TEST_PROXY_BIN=$(CURDIR)/$(TEST_BIN);

.PHONY: all test pg vet test-bin test-go fuzz test-python check-dockerfile run build bench fmt clean

all: build

## test: everything CI checks, in order (PostgreSQL setup, vet, race tests, fuzz, Python client, Dockerfile build)
test:
	@$(MAKE) --no-print-directory pg
	@$(MAKE) --no-print-directory vet
	@$(MAKE) --no-print-directory test-go
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory test-python
	@$(MAKE) --no-print-directory check-dockerfile

## pg: start PostgreSQL, install pgvector if missing, create the test database (writes .cache/pg.env)
pg:
	bash scripts/setup-postgres.sh --env-file $(PG_ENV) >/dev/null

vet:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run make fmt):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# Linux is where the tests run; this keeps the macOS build from breaking unseen.
	GOOS=darwin $(GO) build ./...

## test-bin: the proxy binary the tests share
test-bin:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(TEST_BIN) ./cmd/proxy

test-go: test-bin
	@$(LOAD_PG) $(USE_BIN) set -x; $(GO) test -race -count=1 ./...

## fuzz: every FuzzXxx target in the module for FUZZTIME each
fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

## test-python: the Python client's tests (and the system Python packages LightRAG's own code needs)
test-python: test-bin
	@bash scripts/setup-python-lightrag.sh
	@if [ -d clients/python ]; then \
		set -x; $(LOAD_PG) $(USE_BIN) python3 -m unittest discover -v -s clients/python; \
	else \
		echo "test-python: clients/python does not exist yet, skipped"; \
	fi

## check-dockerfile: run the Dockerfile's go build line locally (no Docker engine needed)
check-dockerfile:
	bash scripts/check-dockerfile.sh

run:
	$(GO) run ./cmd/proxy serve

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/proxy ./cmd/proxy

## bench: the Go benchmarks (BENCH selects, e.g. make bench BENCH=VectorQuery)
BENCH     ?= .
BENCHTIME ?= 1s
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./...

fmt:
	gofmt -w .

clean:
	rm -rf bin .cache
