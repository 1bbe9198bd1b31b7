# Archon: the two commands are "make run" and "make test".

SHELL       := /bin/bash
GO          ?= go
OUTPUT      := _output
BIN         := $(OUTPUT)/bin
LOCAL_DIR   := $(OUTPUT)/local

KUBE_VERSION   := v1.37.2
ARCHON_VERSION := $(shell cat VERSION)
GIT_COMMIT     := $(shell git rev-parse HEAD 2>/dev/null)

# kubectl and kube-apiserver refuse to parse the v0.0.0-master default.
version_ldflags = -X k8s.io/component-base/version.gitVersion=$(1) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(1)))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(1))) \
	-X k8s.io/component-base/version.gitCommit=$(GIT_COMMIT) \
	-X k8s.io/component-base/version.gitTreeState=clean

ARCHON_LDFLAGS := $(call version_ldflags,$(ARCHON_VERSION))
KUBE_LDFLAGS   := $(call version_ldflags,$(KUBE_VERSION))

# Rebuilding is cheap with a warm cache; go decides what is stale.
.PHONY: FORCE
FORCE:

.PHONY: all
all: build

## build: the archon binaries (archon-apiserver, archon-local, kubectl-acp)
.PHONY: build
build: $(BIN)/archon-apiserver $(BIN)/archon-local $(BIN)/kubectl-acp

$(BIN)/archon-apiserver: FORCE
	$(GO) build -ldflags "$(ARCHON_LDFLAGS)" -o $@ ./cmd/archon-apiserver

$(BIN)/archon-local: FORCE
	$(GO) build -o $@ ./cmd/archon-local

$(BIN)/kubectl-acp: FORCE
	$(GO) build -ldflags "$(ARCHON_LDFLAGS)" -o $@ ./cmd/kubectl-acp

# Where install-plugin puts kubectl-acp; kubectl finds plugins on PATH.
PLUGIN_DIR ?= $(HOME)/.local/bin

## install-plugin: install the kubectl acp plugin into PLUGIN_DIR (default ~/.local/bin)
.PHONY: install-plugin
install-plugin: $(BIN)/kubectl-acp
	install -D -m 0755 $(BIN)/kubectl-acp $(PLUGIN_DIR)/kubectl-acp
	@echo "Installed $(PLUGIN_DIR)/kubectl-acp; with $(PLUGIN_DIR) on PATH, run: kubectl acp --help"

## tools: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, the registry, crane and helm built from the Go module proxy (hack/tools)
.PHONY: tools
tools: $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubectl $(BIN)/kwok $(BIN)/registry $(BIN)/crane $(BIN)/helm

$(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubectl: hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o ../../$@ k8s.io/kubernetes/cmd/$(notdir $@)

$(BIN)/kwok: hack/tools/kwok/go.mod hack/tools/kwok/go.sum
	cd hack/tools/kwok && $(GO) build -o ../../../$@ sigs.k8s.io/kwok/cmd/kwok

$(BIN)/registry: hack/tools/registry/go.mod hack/tools/registry/go.sum
	cd hack/tools/registry && $(GO) build -o ../../../$@ github.com/distribution/distribution/v3/cmd/registry

$(BIN)/crane: hack/tools/registry/go.mod hack/tools/registry/go.sum
	cd hack/tools/registry && $(GO) build -o ../../../$@ github.com/google/go-containerregistry/cmd/crane

$(BIN)/helm: hack/tools/helm/go.mod hack/tools/helm/go.sum
	cd hack/tools/helm && $(GO) build -o ../../../$@ helm.sh/helm/v3/cmd/helm

# golangci-lint has its own module: its linters' dependencies must not move ours.
$(BIN)/golangci-lint: hack/tools/golangci/go.mod hack/tools/golangci/go.sum
	cd hack/tools/golangci && $(GO) build -o ../../../$@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

## lint: golangci-lint (.golangci.yml) over the whole module
.PHONY: lint
lint: $(BIN)/golangci-lint
	$(BIN)/golangci-lint run ./...

## run: start etcd, kube-apiserver, its controllers and scheduler, simulated nodes, a registry and archon on 127.0.0.1 (foreground, Ctrl-C stops)
.PHONY: run
run: build tools
	$(BIN)/archon-local --dir $(LOCAL_DIR) --bin-dir $(BIN) up

## clean-local: forget the local control plane's state
.PHONY: clean-local
clean-local:
	rm -rf $(LOCAL_DIR)

## test: verify, unit and storage tests, then the end-to-end suite
.PHONY: test
test: verify unit e2e

## verify: gofmt, go vet, golangci-lint, license headers, shellcheck, import rules, scripts download the modules they read, generated code up to date
.PHONY: verify
verify: $(BIN)/golangci-lint
	@out=$$(gofmt -l cmd pkg internal hack test artifacts); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/golangci-lint run ./...
	hack/verify-boilerplate.sh
	hack/verify-shellcheck.sh
	hack/verify-imports.sh
	hack/verify-modules.sh
	hack/verify-codegen.sh

## unit: unit and storage tests (storage tests run on embedded etcd), with the race detector
.PHONY: unit
unit:
	$(GO) test -race ./pkg/... ./internal/... ./cmd/...

## e2e: the end-to-end suite through a real kube-apiserver
.PHONY: e2e
e2e: build tools
	ARCHON_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -v ./test/e2e/ 2>&1 | tee $(OUTPUT)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

## bench: aggregated Projects against a CRD, tenancy at scale, images, the catalog, applications, template applications, pod policies, the visibility index; fails on a missed target
.PHONY: bench
bench: build tools
	$(GO) test -count=1 -run '^$$' -bench BenchmarkIndex -benchtime 1000x ./pkg/registry/auth/project/visibility/
	ARCHON_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 60m -run '^Test' -bench . -benchtime 1x ./test/bench/

.PHONY: help
help:
	@grep -E '^## ' Makefile | sed 's/^## //'
