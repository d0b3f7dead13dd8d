# Xuncha (巡察通). `make run` and `make test` set up everything they need on a fresh
# Debian 12 machine (as root), then run. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

# Debian packages the build needs: a C toolchain and perl/make for the vendored OpenSSL
# that SQLCipher is built against.
APT_PACKAGES := build-essential pkg-config perl make ca-certificates

RUN_DIR := .run
DEMO_DB := $(RUN_DIR)/demo-device.db
DEMO_PIN := 246810

.PHONY: help setup build run test check fmt clippy unit bench clean

help:
	@echo "make run    build, create a demo device database with the demo district, print totals and records"
	@echo "make test   formatting, clippy, every test (unit, property, crash, CLI)"
	@echo "make bench  store benchmarks (criterion) against the targets in DESIGN.md"

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

## run: the main job until the app exists: a demo device database with the demo district
run: build
	@mkdir -p $(RUN_DIR)
	@rm -f $(DEMO_DB) $(DEMO_DB).key $(DEMO_DB)-wal $(DEMO_DB)-shm
	@export XUNCHA_DB=$(DEMO_DB) XUNCHA_PIN=$(DEMO_PIN); \
	set -e; X=target/debug/xuncha; \
	$$X init --user demo-inspector --name 演示巡察员 --device demo-tablet; \
	echo; $$X demo; \
	echo; echo "== 搜索 search: 截留"; $$X search 截留 --limit 5; \
	id=$$($$X record list --kind gang_clue --limit 1 --json | sed -n 's/.*"record_id": "\([^"]*\)".*/\1/p' | head -1); \
	echo; echo "== 一条记录 one record"; $$X record show $$id; \
	echo; $$X verify; \
	echo; echo "demo database: $(DEMO_DB) (PIN $(DEMO_PIN)); try: XUNCHA_DB=$(DEMO_DB) XUNCHA_PIN=$(DEMO_PIN) target/debug/xuncha --help"

## bench: criterion benchmarks of the device store (100,000 records; takes a few minutes)
bench: setup
	$(CARGO) bench -p xuncha-store --locked

clean:
	$(CARGO) clean
	rm -rf $(RUN_DIR)
