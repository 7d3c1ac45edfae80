# shoal — build, test, run. `make help` lists the targets.
GO        ?= go
BIN       ?= bin
GOFLAGS_BUILD := -trimpath
export CGO_ENABLED ?= 0

.PHONY: help build test test-short fuzz vet run run-one stop image bench test-k8s test-docker clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## build the worker and submit binaries into bin/
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/worker ./cmd/submit

vet: ## go vet and the package-graph check
	$(GO) vet ./...
	./scripts/check-deps.sh

# Unit and integration tests (scripts/test-unit.sh) run in parallel; the
# end-to-end suite (real worker processes, up to five at once) runs alone
# so that it does not compete with them for the CPU. Both rerun a failed
# package or scenario once and say FLAKY when it then passes.

test: vet ## the test suite: unit, integration and end-to-end (real worker processes), with -race
	./scripts/test-unit.sh
	./scripts/test-e2e.sh
	./scripts/fuzz-short.sh

test-short: ## unit tests only (no worker processes)
	CGO_ENABLED=1 $(GO) test -race -short -count=1 ./...

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	FUZZTIME=$${FUZZTIME:-30s} ./scripts/fuzz-short.sh

run: build ## a local 3-node cluster on 127.0.0.1-3 doing real work; Ctrl-C drains it
	./scripts/run-local.sh 3

run-one: build ## a one-node cluster on 127.0.0.1 with a demo submission
	./scripts/run-local.sh 1

image: ## the container image shoal:local (FROM scratch around static binaries)
	./scripts/build-image.sh

bench: ## quick benchmark (under 5 min): shoal 1 and 3 nodes vs asynq + Redis and River + Postgres; table and PNG in bench/out/
	cd bench && ./scripts/bench.sh quick

bench-full: ## the full benchmark for published figures (about 30-40 min)
	cd bench && ./scripts/bench.sh full

test-cluster: ## the multi-node scenarios (crash, join, drains, formation, healing, secret) with real worker processes
	SHOAL_E2E_CLUSTER=1 ./scripts/test-e2e.sh

test-k8s: ## Kubernetes tests against a real control plane (the first run builds it: 15-25 min, then cached)
	./scripts/k8s/ci.sh

test-docker: ## the container suite: builds shoal:local and drives docker compose (needs a Docker engine); a failed suite is rerun once
	./scripts/test-docker.sh

clean: ## remove build output
	rm -rf $(BIN) run
