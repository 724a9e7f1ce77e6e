# clusters-apiserver

SHELL := /usr/bin/env bash -o errexit -o nounset -o pipefail
GO ?= go
OUTPUT := _output
BIN := $(OUTPUT)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
LDFLAGS := -X github.com/headlamp-k8s/clusters-apiserver/pkg/version.Version=$(VERSION)
UNIT_PKGS := ./cmd/... ./pkg/...
# Static binaries without local paths, and one set of compiled packages for
# everything that is not race-instrumented (build, image, vet, lint, the
# end-to-end test binaries); the race detector needs cgo, so the race builds
# (unit tests, the e2e server) share another.
export CGO_ENABLED := 0
export GOFLAGS += -trimpath
# Tests run every time (no cached results), without go test's own vet
# pass (golangci-lint's govet runs the same checks, on the tests too, in
# make verify) and without DWARF in the test binaries, which only makes
# their links slower: stack traces and race reports keep file and line.
TEST_FLAGS := -count=1 -vet=off -ldflags=-w
LINT := $(BIN)/golangci-lint
IMAGE_REPO ?= ghcr.io/headlamp-k8s/clusters-apiserver
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_TAR := $(OUTPUT)/clusters-apiserver-image.tar

.DEFAULT_GOAL := build

# ---------------------------------------------------------------- build

.PHONY: build
build: ## Build the clusters-apiserver binary (static) and the kubectl-clusters plugin into _output/bin.
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/clusters-apiserver ./cmd/clusters-apiserver
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-clusters ./cmd/kubectl-clusters

# Where make install puts kubectl-clusters: PREFIX=$$HOME/.local needs no root.
PREFIX ?= /usr/local

.PHONY: install
install: build ## Install kubectl-clusters into $(DESTDIR)$(PREFIX)/bin, where kubectl finds it as "kubectl clusters".
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/kubectl-clusters $(DESTDIR)$(PREFIX)/bin/kubectl-clusters
	@echo "installed $(DESTDIR)$(PREFIX)/bin/kubectl-clusters"

.PHONY: image
image: ## Build the container image (static binary, non-root, no shell) into _output/clusters-apiserver-image.tar, for docker load or podman load.
	GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -ldflags '$(LDFLAGS)' -o $(OUTPUT)/image/clusters-apiserver ./cmd/clusters-apiserver
	cd hack/tools/image && GOWORK=off $(GO) run . -binary $(abspath $(OUTPUT)/image/clusters-apiserver) -arch $(IMAGE_ARCH) \
		-version $(VERSION) -tag $(IMAGE_REPO):$(VERSION) -tag $(IMAGE_REPO):latest -out $(abspath $(IMAGE_TAR))
	@echo "wrote $(IMAGE_TAR): $(IMAGE_REPO):$(VERSION) and :latest"

.PHONY: clean
clean: ## Remove build outputs (not the hub binaries' Go build cache).
	rm -rf $(OUTPUT)

# ---------------------------------------------------------------- test

.PHONY: test
test: ## Everything CI runs: verification and all tests, printing the wall and CPU time of each phase.
	@# The server builds first: its packages are most of what the hub's
	@# kube-apiserver and the lint need, and two go commands compiling the
	@# same package at once each do the work. Then the hub binaries (the
	@# longest build, needed only by test-e2e) build in the background, so
	@# their downloads and links overlap the checks and unit tests; their
	@# output is printed after.
	@mkdir -p $(OUTPUT); total=$$SECONDS; \
	TIMEFORMAT="make test: build took %0R s, CPU %0U s user %0S s system"; \
	time $(MAKE) --no-print-directory build || exit 1; \
	( TIMEFORMAT="make test: binaries took %0R s, CPU %0U s user %0S s system (in the background)"; \
	  time $(MAKE) --no-print-directory binaries ) > $(OUTPUT)/binaries.log 2>&1 & bins=$$!; \
	for phase in verify test-unit; do \
		TIMEFORMAT="make test: $$phase took %0R s, CPU %0U s user %0S s system"; \
		time $(MAKE) --no-print-directory -j2 --output-sync=target $$phase || { wait $$bins || true; exit 1; }; \
	done; \
	start=$$SECONDS; rc=0; wait $$bins || rc=$$?; cat $(OUTPUT)/binaries.log; \
	echo "make test: waiting for the binaries took $$((SECONDS - start)) s"; [ $$rc = 0 ] || exit $$rc; \
	TIMEFORMAT="make test: test-e2e took %0R s, CPU %0U s user %0S s system"; \
	time $(MAKE) --no-print-directory test-e2e || exit 1; \
	echo "make test: all phases took $$((SECONDS - total)) s"

.PHONY: test-unit
test-unit: ## Unit tests, including an in-process server.
	CGO_ENABLED=1 $(GO) test $(TEST_FLAGS) -race $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: binaries image ## Tests against real hub and member kube-apiservers (two packages, each with its own hub, at a time), the server built with -race; and of the image.
	E2E_SERVER_RACE=1 GORACE=halt_on_error=1 $(GO) test $(TEST_FLAGS) -p 2 -timeout 20m ./test/...

# ---------------------------------------------------------------- bench

.PHONY: bench
bench: binaries build ## Benchmarks against a real hub and members: a table on stdout, every figure in _output/bench/results.json.
	$(GO) run ./test/bench -server-binary $(BIN)/clusters-apiserver -plugin-binary $(BIN)/kubectl-clusters -out $(OUTPUT)/bench/results.json

# ---------------------------------------------------------------- local hub

.PHONY: binaries
binaries: ## Build kube-apiserver, kubectl and etcd for the local hub (cached).
	hack/build-binaries.sh

.PHONY: local-up
local-up: ## Hub, two members and clusters-apiserver on 127.0.0.1, in the foreground.
	hack/local-up.sh

.PHONY: local-down
local-down: ## Stop a running local-up.
	hack/local-down.sh

# ---------------------------------------------------------------- verify

.PHONY: verify
verify: verify-gofmt verify-mod verify-boilerplate verify-shellcheck lint verify-codegen ## Formatting, tidy modules, license headers, shell scripts, lint (go vet's checks among them) and generated code.

.PHONY: fmt
fmt: $(LINT) ## Format the Go code (gofmt, goimports with this module's imports last).
	$(LINT) fmt ./...

.PHONY: lint
lint: $(LINT) ## golangci-lint, at the version pinned in hack/tools/lint, with .golangci.yml.
	$(LINT) run ./...

$(LINT): hack/tools/lint/go.mod hack/tools/lint/go.sum
	cd hack/tools/lint && GOWORK=off CGO_ENABLED=0 $(GO) build -o $(abspath $(LINT)) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

.PHONY: verify-shellcheck
verify-shellcheck: ## shellcheck the scripts (installs shellcheck where it can).
	hack/verify-shellcheck.sh

.PHONY: verify-fast
verify-fast: verify-gofmt verify-vet verify-boilerplate ## The checks fast enough for a pre-commit hook.

.PHONY: verify-gofmt
verify-gofmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: verify-vet
verify-vet:
	$(GO) vet ./...

.PHONY: verify-mod
verify-mod: ## Fail when go.mod or go.sum is not tidy.
	$(GO) mod tidy -diff
	for m in hack/tools/lint hack/tools/image; do (cd "$$m" && GOWORK=off $(GO) mod tidy -diff) || exit 1; done

.PHONY: verify-boilerplate
verify-boilerplate: ## Fail when a Go file lacks the license header of hack/boilerplate.go.txt.
	hack/verify-boilerplate.sh

.PHONY: verify-codegen
verify-codegen: ## Fail when generated code is stale.
	hack/verify-codegen.sh

.PHONY: update-codegen
update-codegen: ## Regenerate deepcopy, conversion, OpenAPI, clientset, listers, informers.
	hack/update-codegen.sh

# ---------------------------------------------------------------- help

.PHONY: help
help:
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-16s %s\n", $$1, $$2}'
