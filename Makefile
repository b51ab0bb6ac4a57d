# rootlet build and test entry points. `make test` needs root (it runs containers).
GO        ?= go
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
BIN       := bin/rootlet
# The version comes from a VERSION file when there is one; otherwise main.go's default.
VERSION   ?= $(shell cat VERSION 2>/dev/null)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X main.gitCommit=$(COMMIT) $(if $(VERSION),-X main.version=$(VERSION))
# A static binary: no dynamic loader on each of the two execs per container
# start, and it runs in a bare initramfs (the cgroup v2 VM). osusergo/netgo
# keep glibc's NSS out; urfave_cli_no_docs drops the man-page generator,
# whose init costs ~0.6 ms per exec.
STATIC_LDFLAGS := -linkmode external -extldflags -static -s -w
BUILDTAGS ?= urfave_cli_no_docs osusergo netgo
GOFLAGS_BUILD ?= -trimpath
INTEGRATION_TIMEOUT ?= 20m
# Extra flags for the integration run, e.g. TESTFLAGS='-run TestExec'.
TESTFLAGS ?=

.PHONY: all build test unit-test integration test-cgroupv2 bench install bundle clean

all: build

# Always rebuilt: go's build cache makes it cheap, and a stale binary would
# make the integration tests test yesterday's code.
build:
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_BUILD) -tags "$(BUILDTAGS)" -ldflags "$(LDFLAGS) $(STATIC_LDFLAGS)" -o $(BIN) ./cmd/rootlet

test: unit-test integration

unit-test:
	$(GO) test $$($(GO) list ./... | grep -v /tests/integration)

integration: build
	ROOTLET_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout $(INTEGRATION_TIMEOUT) $(TESTFLAGS) ./tests/integration/

# The cgroup v2 suite in a VM (qemu TCG, Debian's kernel): this host is hybrid.
test-cgroupv2:
	hack/vm/test-cgroupv2.sh

# rootlet vs runc vs crun on this machine; results also go to bench/results/.
bench: build
	hack/bench.sh $(BENCHFLAGS)

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/rootlet

bundle:
	hack/mkbundle.sh bundle

clean:
	rm -rf bin bundle
