# Shardgate build, test and benchmark entry points. `make help` lists them.

GO            ?= go
BIN           := $(CURDIR)/bin
TOOLS         := $(BIN)/tools
# Generator versions are pinned so that `make proto` is reproducible and CI can
# tell a stale generated file from a changed generator. protoc itself comes
# from Debian 12's protobuf-compiler (3.21.12).
PROTOC_GEN_GO_VERSION      := $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# protoc-gen-go-vtproto generates the reflection-free encoding the query
# port's frames use (internal/queryrpc); its runtime helpers are a module
# dependency, so the generator is the module's version.
PROTOC_GEN_GO_VTPROTO_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/planetscale/vtprotobuf)
STATICCHECK_VERSION        := v0.8.2
# versitygw is the S3-compatible server backup tests and benchmarks run on
# loopback (Apache-2.0; its posix backend keeps buckets as directories).
VERSITYGW_VERSION          := v1.8.0

.PHONY: help deps build test unit integration demo down bench bench-backup proto proto-check lint fuzz fuzz-short clean

# Packages whose tests start real mariadbd, etcd or Shardgate processes.
INTEGRATION_PKGS := /tests/integration|/localcluster|/tablet/mysqld|/tablet/replication|/tests/clientsuite|/tests/deploy
UNIT_PKGS = $$($(GO) list ./... | grep -Ev '$(INTEGRATION_PKGS)')
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help:
	@echo "make deps         install MariaDB (server, client, mariadb-backup), sysbench, mydumper, protoc, chromium and the client suite's drivers (Python, PHP, Perl, Java, node) from Debian packages (needs root or sudo), mysql2 with npm ci, versitygw, promtool and etcd into bin/tools"
	@echo "make build        build shardgate, shardtablet, shardctl into bin/"
	@echo "make demo         build, then run a local cluster (etcd, 4 MariaDB shards, tablets, gate on :15306)"
	@echo "make down         stop the detached demo cluster"
	@echo "make test         lint, proto check, unit tests with -race, integration tests on real MariaDB + etcd"
	@echo "make bench        sysbench through the gate (1 and 4 shards) vs direct MariaDB, Go benchmarks, and backup/restore of a 1 GB shard vs mydumper/myloader"
	@echo "make bench-backup only the backup/restore part of bench"
	@echo "make proto        regenerate proto/*pb from proto/*.proto with the pinned generators"
	@echo "make lint         gofmt, go vet, staticcheck"

# deps installs the Debian packages the cluster, the tests and the benchmarks
# need, and versitygw (an S3-compatible server for the backup tests). The
# package's own MariaDB service is stopped: Shardgate starts its own servers
# with their own data directories.
#
# The admin UI's test drives Debian's chromium headless (chromedp).
#
# The client suite (tests/clientsuite) runs real drivers: PyMySQL,
# mysqlclient and SQLAlchemy for Debian's /usr/bin/python3, PHP's PDO and
# mysqli, Perl's DBD::MariaDB, MariaDB Connector/J with a JDK to compile
# against it (javac comes with openjdk-17-jdk-headless, which
# default-jdk-headless pulls in), and node mysql2, installed from the
# committed package-lock.json.
CLIENT_DEBS := python3-pymysql python3-mysqldb python3-sqlalchemy php-cli php-mysql libdbd-mariadb-perl libmariadb-java
CLIENTSUITE_NODE := tests/clientsuite/node
deps: $(TOOLS)/versitygw $(TOOLS)/promtool $(TOOLS)/etcd
	@missing=""; \
	command -v mariadbd >/dev/null || missing="$$missing mariadb-server"; \
	command -v mariadb >/dev/null || missing="$$missing mariadb-client"; \
	command -v mariadb-backup >/dev/null || missing="$$missing mariadb-backup"; \
	command -v mydumper >/dev/null || missing="$$missing mydumper"; \
	command -v sysbench >/dev/null || missing="$$missing sysbench"; \
	command -v protoc >/dev/null || missing="$$missing protobuf-compiler"; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	for p in $(CLIENT_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	if command -v systemctl >/dev/null && systemctl is-active --quiet mariadb 2>/dev/null; then $(SUDO) systemctl stop mariadb || true; fi
	@if [ ! -f $(CLIENTSUITE_NODE)/node_modules/mysql2/package.json ]; then \
		echo "npm ci in $(CLIENTSUITE_NODE)"; \
		cd $(CLIENTSUITE_NODE) && npm ci --no-audit --no-fund; \
	fi

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The demo lives where `shardctl local` looks by default, so that
# `shardctl local add-shards` and `local down` find it without --data-dir.
# As shardctl's default: root's home is closed to the mysql user the
# shards' servers run as.
DEMO_DIR ?= $(shell if [ "$$(id -u)" = 0 ]; then echo /var/lib/shardgate/local; else echo $$HOME/.shardgate/local; fi)
demo: build
	$(BIN)/shardctl local up --data-dir $(DEMO_DIR) --detach

down:
	$(BIN)/shardctl local down --data-dir $(DEMO_DIR)

# Unit tests need no network; integration tests (package tests/integration
# and any test that starts mariadbd or etcd) run the real thing.
test: lint proto-check build unit fuzz-short integration

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

# Integration tests run one package at a time: each starts MariaDB servers.
integration: build
	SHARDGATE_TEST_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 25m -p 1 $$($(GO) list ./... | grep -E '$(INTEGRATION_PKGS)')

# bench compares the gate with direct MariaDB in the same run (see
# cmd/shardbench); BENCH_ARGS passes flags, e.g. BENCH_ARGS="-threads 16".
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./vindex/... ./sqlrouter/...
	@# The query statistics' cost per statement on the gate's own path.
	$(GO) test -run '^$$' -bench PointSelectStatistics -benchmem -count 6 ./gateway
	$(BIN)/shardbench -bin $(BIN) $(BENCH_ARGS)
	$(BIN)/shardbench -bin $(BIN) -mode backup $(BACKUP_BENCH_ARGS)

# bench-backup is the backup part of bench alone: a 1 GB shard backed up
# and restored by Shardgate and by mydumper/myloader.
bench-backup: build
	$(BIN)/shardbench -bin $(BIN) -mode backup $(BACKUP_BENCH_ARGS)

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/protoc-gen-go-vtproto:
	GOBIN=$(TOOLS) $(GO) install github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto@$(PROTOC_GEN_GO_VTPROTO_VERSION)

proto: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-go-vtproto
	PATH=$(TOOLS):$$PATH protoc -I . \
		--go_out=. --go_opt=module=github.com/shardgate/shardgate \
		--go-grpc_out=. --go-grpc_opt=module=github.com/shardgate/shardgate \
		proto/*.proto
	PATH=$(TOOLS):$$PATH protoc -I . \
		--go-vtproto_out=. --go-vtproto_opt=module=github.com/shardgate/shardgate \
		--go-vtproto_opt=features=marshal+unmarshal+unmarshal_unsafe+size \
		proto/query.proto

# proto-check fails when the committed generated code differs from what the
# pinned generators produce from the committed .proto files.
proto-check: proto
	@git diff --exit-code --stat -- proto/ || \
		(echo "proto/: generated code is stale; run 'make proto' and commit the result" >&2; exit 1)
	@test -z "$$(git status --porcelain -- proto/ | grep '^??')" || \
		(echo "proto/: generated files are not committed; run 'make proto' and commit them" >&2; exit 1)

$(TOOLS)/versitygw:
	GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# etcd is the etcd server binary of the version go.mod pins (the one
# `shardctl local up` embeds): tests/deploy runs the etcd container command
# of docker-compose.yml with it. The module's own main package builds it.
$(TOOLS)/etcd: go.mod
	$(GO) build -o $(TOOLS)/etcd go.etcd.io/etcd/server/v3

# promtool lints the processes' /metrics in the tests (`promtool check
# metrics`). It is taken out of Debian's prometheus package without
# installing the package, whose scripts would set up and start a
# Prometheus server.
$(TOOLS)/promtool:
	@mkdir -p $(TOOLS); tmp=$$(mktemp -d); \
	cd $$tmp && { apt-get download prometheus >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
	dpkg -x prometheus_*.deb pkg && cp pkg/usr/bin/promtool $(TOOLS)/promtool; status=$$?; rm -rf $$tmp; exit $$status

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(TOOLS)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@# Imports point down the layers (the rules are in tests/layout).
	$(GO) test -count=1 ./tests/layout

FUZZTIME ?= 30s
# fuzz-short is part of `make test`: every fuzz target for 20,000 inputs
# beyond its seed corpus, so that a panic the wire or the parser can
# reach fails CI (the wire fuzzers count recovered panics as failures).
# A count rather than a duration: with a duration, Go's fuzz coordinator
# can report "context deadline exceeded" as a failure when the time runs
# out while a starved worker is mid-input (golang/go#51484, #75804); CI
# failed that way on FuzzParseDSN with no failing input. 20,000 inputs
# take about as long as 8 s did (2 minutes for all targets here).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# fuzz runs every fuzz target for FUZZTIME each.
fuzz:
	@for target in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$target\(" --include='*_test.go' . | head -1 | xargs dirname); \
		echo "== $$target ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

clean:
	rm -rf $(BIN)
