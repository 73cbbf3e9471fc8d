# llmroute: make targets a newcomer can guess. Tools are pinned in tools/go.mod and run with `go tool`.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
BIN       := $(CURDIR)/bin
# The unit tier: packages that need no API server. -race runs on these in CI.
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v -e /test/ -e /internal/controller -e /internal/testenv -e /internal/webhook)

.PHONY: all
all: build

##@ Build
.PHONY: build
build: ## Build the operator and router binaries into bin/.
	$(GO) build -o $(BIN)/llmroute ./cmd/llmroute
	$(GO) build -o $(BIN)/llmroute-router ./cmd/llmroute-router
	$(GO) build -o $(BIN)/operator ./cmd/operator

.PHONY: generate
generate: ## Generate deepcopy code.
	$(TOOL) controller-gen object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from markers.
	$(TOOL) controller-gen crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(TOOL) controller-gen rbac:roleName=llmroute-operator paths=./internal/controller/... output:rbac:artifacts:config=config/rbac

##@ Test
.PHONY: k8s-binaries
k8s-binaries: ## Build kube-apiserver and etcd from the Go module proxy into bin/k8s/<version>/ (reused when present).
	@hack/k8s-binaries.sh

.PHONY: test
test: k8s-binaries ## The whole test suite: unit (with -race), envtest, e2e. This is what CI runs.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) $(GO) test -race -count=1 ./...

.PHONY: test-unit
test-unit: ## Unit tier only, with the race detector.
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: test-envtest
test-envtest: k8s-binaries ## Tests against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) $(GO) test -count=1 ./test/crd/... ./test/chart/... ./internal/controller/... ./internal/webhook/...

.PHONY: bench
bench: ## Go benchmarks of the hot paths, then the loopback load run (direct vs reverse proxy vs llmroute; ~7 min).
	$(GO) test -run '^$$' -bench . -benchmem ./internal/policy/... ./internal/breaker/... ./internal/router/...
	$(GO) run ./test/bench

##@ Quality
.PHONY: lint
lint: ## golangci-lint (pinned in tools/go.mod).
	$(TOOL) golangci-lint run ./...

.PHONY: vet
vet:
	$(GO) vet ./...

.PHONY: fmt-check
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: check
check: generate manifests ## Fail when generated files are stale.
	@if [ -n "$$(git status --porcelain -- api config)" ]; then \
		echo "generated files are stale; run 'make generate manifests' and commit:"; git status --porcelain -- api config; \
		git diff --stat -- api config; exit 1; fi

.PHONY: vulncheck
vulncheck:
	$(TOOL) govulncheck ./...

##@ Run
.PHONY: demo
demo: ## Run the routing engine against in-process fake providers and print the decision trail.
	$(GO) run ./cmd/llmroute simulate payment_workflow
	$(GO) run ./cmd/llmroute simulate permanent_outage

.PHONY: help
help:
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Local environment
.PHONY: dev-up
dev-up: ## Start etcd, kube-apiserver, the operator, fake providers and a router locally (no Docker).
	hack/dev-up.sh

.PHONY: dev-down
dev-down: ## Stop exactly what dev-up started.
	hack/dev-down.sh

.PHONY: test-e2e
test-e2e: k8s-binaries ## End-to-end suite over real processes (apiserver, operator, fake providers, router).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) $(GO) test -count=1 -v -run TestEndToEnd ./test/e2e/...
