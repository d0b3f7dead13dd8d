# Xuncha (巡察通). `make run` and `make test` set up everything they need on a fresh
# Debian 12 machine (as root), then run. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

# Debian packages the build needs: a C toolchain and perl/make for the vendored OpenSSL
# that SQLCipher is built against.
APT_PACKAGES := build-essential pkg-config perl make ca-certificates curl

RUN_DIR := .run
DEMO_PIN := 246810
DEMO_PORT ?= 18470

.PHONY: help setup build run test check fmt clippy unit bench clean

help:
	@echo "make run    build; start the server with the demo district on loopback; two devices enroll, sync, settle a conflict"
	@echo "make test   formatting, clippy, every test (unit, property, crash, CLI)"
	@echo "make bench  store benchmarks (criterion) and the sync benchmark against the standard Automerge protocol"

## setup: install what the build needs (idempotent; apt only when something is missing)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (or install them yourself)"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

build: setup
	$(CARGO) build --workspace --all-targets --locked

fmt: setup
	$(CARGO) fmt --all -- --check

clippy: setup
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: build
	$(CARGO) test --workspace --locked

## test: every check and every test, as CI runs them
test: fmt clippy unit

check: test

## run: the main job until the app exists: a server with the demo district on loopback,
## two enrolled devices syncing, a concurrent edit settled by the supervisor
run: build
	@rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)
	@set -e; X=$$(pwd)/target/debug/xuncha; cd $(RUN_DIR); \
	export XUNCHA_SERVER_DATA=server XUNCHA_PIN=$(DEMO_PIN); \
	$$X admin add-user demo-inspector --name 演示巡察员 --role inspector --jurisdiction district; \
	$$X admin add-user demo-supervisor --name 演示审核人 --role supervisor --jurisdiction district; \
	$$X server --listen 127.0.0.1:$(DEMO_PORT) > server.log 2>&1 & SERVER=$$!; \
	trap "kill $$SERVER 2>/dev/null" EXIT; \
	for i in $$(seq 50); do curl -sf http://127.0.0.1:$(DEMO_PORT)/healthz >/dev/null 2>&1 && break; sleep 0.1; done; \
	echo; echo "== 巡察员平板 inspector's tablet: the demo district, then sync"; \
	$$X --db inspector.db init --user demo-inspector --name 演示巡察员 --device inspector-tablet; \
	$$X --db inspector.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-inspector 2>/dev/null) --name 巡察员平板; \
	$$X --db inspector.db demo; \
	$$X --db inspector.db sync; \
	echo; echo "== 审核人 supervisor's device: first sync"; \
	$$X --db supervisor.db init --user demo-supervisor --name 演示审核人 --device supervisor-desktop; \
	$$X --db supervisor.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-supervisor 2>/dev/null) --name 审核人电脑; \
	$$X --db supervisor.db sync; \
	$$X --db supervisor.db totals; \
	echo; echo "== both change the allocated amount of one record offline, then sync"; \
	id=$$($$X --db inspector.db record list --kind fund_check --limit 1 --json | sed -n 's/.*"record_id": "\([^"]*\)".*/\1/p' | head -1); \
	$$X --db inspector.db record edit $$id --set allocated=120000; \
	$$X --db supervisor.db record edit $$id --set allocated=125000.50; \
	$$X --db inspector.db sync; $$X --db supervisor.db sync; $$X --db inspector.db sync; \
	$$X --db supervisor.db record conflicts $$id; \
	echo; echo "== the supervisor settles it; the inspector receives the decision"; \
	$$X --db supervisor.db record edit $$id --set allocated=125000.50 --comment 以银行流水为准; \
	$$X --db supervisor.db sync; $$X --db inspector.db sync; \
	$$X --db inspector.db record history $$id --field allocated; \
	echo; echo "== 审计日志 audit log (latest)"; $$X admin audit --limit 8; \
	echo; echo "everything is in $(RUN_DIR)/ (PIN $(DEMO_PIN)); the server has stopped."

## bench: criterion benchmarks of the device store (100,000 records) and the sync
## benchmark against the standard Automerge sync protocol (1,000 to 100,000 documents)
bench: setup
	$(CARGO) bench -p xuncha-store --locked
	$(CARGO) run --release --locked -p xuncha-cli -- bench sync

clean:
	$(CARGO) clean
	rm -rf $(RUN_DIR)
