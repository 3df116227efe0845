# edge-chat — one entry point for newcomers and CI.
#
#   make dev     install the pinned toolchain, build, serve on http://127.0.0.1:8787
#   make test    everything CI checks: fmt, clippy, unit tests, workerd integration tests,
#                wrangler deploy --dry-run
#
# Every tool is pinned and installed only when missing (or at the wrong version), so a second
# run skips straight to the work. Nothing is downloaded from GitHub: the Rust tools come from
# crates.io, everything JavaScript from the npm registry (package-lock.json).

SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
.DEFAULT_GOAL := help

WORKER_BUILD_VERSION := 0.8.7
WASM_BINDGEN_VERSION := 0.2.130
CARGO_BIN := $(HOME)/.cargo/bin
DEV_PORT ?= 8787

export PATH := $(CARGO_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# Without these, worker-build would try to download wasm-bindgen and wasm-opt from GitHub.
export WASM_BINDGEN_BIN := $(CARGO_BIN)/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
# wrangler: no telemetry prompts, no update checks in scripts.
export WRANGLER_SEND_METRICS := false

RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
say = @printf '\033[1m==> %s\033[0m\n' "$(1)"

.PHONY: help setup prereqs tools wasm-target worker-build wasm-bindgen node-deps build dev chromium python3-sqlite loadgen pyjwt \
        test check unit integration-deps integration test-node-lines deploy-check bench-user-broadcast bench-durable-publish bench-webhooks bench-big-room fastapi-peer bench bench-quick bench-tools clean

help:
	@echo "make dev    - set up, build and serve locally on http://127.0.0.1:$(DEV_PORT)"
	@echo "make test   - run every check and test (what CI runs)"
	@echo "make build  - build the worker into build/"
	@echo "make check  - cargo fmt --check + clippy -D warnings"

# ---- set-up ---------------------------------------------------------------------------------

prereqs:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }
	@command -v rustup >/dev/null || { echo "rustup not found: the wasm32 target is added with rustup"; exit 1; }
	@command -v node >/dev/null || { echo "node not found: install Node.js 20 or newer"; exit 1; }
	@command -v npm >/dev/null || { echo "npm not found: install npm with Node.js"; exit 1; }
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { echo "Node.js >= 20 is required (found $$(node --version))"; exit 1; }

setup: prereqs tools node-deps

tools: wasm-target worker-build wasm-bindgen

wasm-target:
	@if rustup target list --installed | grep -qx wasm32-unknown-unknown; then \
	  echo "ok   rust target wasm32-unknown-unknown"; \
	else \
	  echo "add  rust target wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; \
	fi

worker-build:
	@if [ "$$($(CARGO_BIN)/worker-build --version 2>/dev/null)" = "$(WORKER_BUILD_VERSION)" ]; then \
	  echo "ok   worker-build $(WORKER_BUILD_VERSION)"; \
	else \
	  echo "install worker-build $(WORKER_BUILD_VERSION) (from crates.io, ~7 min)"; \
	  cargo install worker-build --version $(WORKER_BUILD_VERSION) --force; \
	fi

wasm-bindgen:
	@if [ "$$($(CARGO_BIN)/wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "ok   wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	else \
	  echo "install wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (from crates.io, ~5 min)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi

# npm ci only when package-lock.json changed since the last install.
node-deps: node_modules/.installed
node_modules/.installed: package-lock.json package.json
	$(call say,npm ci (wrangler, miniflare, binaryen, ws — pinned in package-lock.json))
	npm ci --no-audit --no-fund
	@touch $@

# ---- build ----------------------------------------------------------------------------------

build: setup build/index.js public/edge-chat-client.js

build/index.js: $(RUST_SOURCES)
	$(call say,worker-build --release)
	worker-build --release
	@touch $@

# The client library (TypeScript, no runtime dependencies), built as the package ships it
# (client/scripts/build.mjs, also its `npm run build` and `prepare`: ES modules in client/dist/,
# CommonJS in client/dist/cjs/, dist/ emptied first so a removed module does not linger). The
# demo page gets the ES modules and their source maps in public/edge-chat-client/, and
# public/edge-chat-client.js re-exports their index, so pages keep importing
# /edge-chat-client.js.
CLIENT_SOURCES := $(wildcard client/src/*.ts) client/tsconfig.json client/tsconfig.cjs.json client/scripts/build.mjs
client/dist/index.js: $(CLIENT_SOURCES) node_modules/.installed
	$(call say,client library (tsc: ES modules and CommonJS))
	node client/scripts/build.mjs
public/edge-chat-client.js: client/dist/index.js
	rm -rf public/edge-chat-client
	mkdir -p public/edge-chat-client
	cp client/dist/*.js client/dist/*.js.map public/edge-chat-client/
	echo "export * from './edge-chat-client/index.js';" > $@

.dev.vars:
	cp .dev.vars.example .dev.vars
	@echo "created .dev.vars from .dev.vars.example"

dev: build .dev.vars
	$(call say,serving on http://127.0.0.1:$(DEV_PORT)  (WebSocket: ws://127.0.0.1:$(DEV_PORT)/rooms/{room}/ws))
	@echo "    open the demo chat: http://127.0.0.1:$(DEV_PORT)/"
	@echo "    get a token:        curl 'http://127.0.0.1:$(DEV_PORT)/dev/token?user=alice'"
	wrangler dev --ip 127.0.0.1 --port $(DEV_PORT)

# ---- checks and tests -----------------------------------------------------------------------

check: setup
	$(call say,cargo fmt --check)
	cargo fmt --all -- --check
	$(call say,cargo clippy (native and wasm32) -D warnings)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p edge-chat --target wasm32-unknown-unknown -- -D warnings

unit: setup node-deps
	$(call say,cargo test (pure core and load generator, native))
	cargo test --workspace
	$(call say,client library unit tests (node --test))
	cd client && rm -rf test-dist && ../node_modules/.bin/tsc -p tsconfig.test.json && node --test --test-reporter=spec test-dist/test/*.test.js

# The browser tests drive an installed Chromium or Chrome with playwright-core (no browser
# download): CHROMIUM_PATH, or one where tests/support/browser.mjs looks (the usual places on
# Linux and macOS, then the PATH). None found: Debian/Ubuntu get the chromium package with
# apt-get; elsewhere make stops with one line saying what to install. Never skipped.
chromium:
	@if found=$$(node tests/support/browser.mjs 2>/dev/null); then \
	  echo "ok   browser $$found"; \
	elif [ -z "$${CHROMIUM_PATH:-}" ] && command -v apt-get >/dev/null; then \
	  echo "install chromium (Debian package, for the browser tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	  node tests/support/browser.mjs >/dev/null; \
	else \
	  node tests/support/browser.mjs >/dev/null; \
	fi

# Python 3's sqlite3 module: the storage tests read the persisted Durable Object databases with
# it (read-only copies) and inject a storage fault. Debian/Ubuntu get python3 with apt-get;
# elsewhere make stops with one line saying what to install.
python3-sqlite:
	@if python3 -c 'import sqlite3' 2>/dev/null; then \
	  echo "ok   python3 sqlite3 ($$(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'))"; \
	elif command -v apt-get >/dev/null; then \
	  echo "install python3 (Debian package, for the storage tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3; \
	else \
	  echo "python3 with its sqlite3 module is needed by the storage tests: install Python 3 (macOS: brew install python; Fedora: dnf install python3; Arch: pacman -S python)"; exit 1; \
	fi

# PyJWT (with cryptography, for RS256, ES256 and EdDSA), pinned in tests/requirements.txt, in a
# venv of the tests' own (tests/.venv): the provider-token tests mint one token the way a Python
# backend does, with docs/examples/mint_token.py. Made again only when the requirements change.
TESTS_VENV := tests/.venv
pyjwt: $(TESTS_VENV)/.installed
$(TESTS_VENV)/.installed: tests/requirements.txt
	@python3 -c 'import ensurepip, venv' 2>/dev/null || if command -v apt-get >/dev/null; then \
	  echo "install python3-venv (Debian package, for tests/.venv)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv; \
	else \
	  echo "python3's venv module is needed by the provider-token tests: install it (Fedora: dnf install python3; macOS: brew install python)"; exit 1; \
	fi
	python3 -m venv $(TESTS_VENV)
	$(TESTS_VENV)/bin/pip install -q -r tests/requirements.txt
	@touch $@

# The load generator (bench/, native only); the integration tests run a tiny smoke of it.
loadgen:
	cargo build -p edge-chat-bench

# Test files are named, never a directory: Node 20 runs a directory's tests, but Node 22 and 24
# read each argument as a glob, so a directory matches no file. The shell expands the pattern
# into file names, which every version takes.
INTEGRATION_TESTS := tests/*.test.mjs

# What the integration tests need (`npm test` makes it first, then runs them).
integration-deps: build chromium python3-sqlite pyjwt loadgen

integration: integration-deps
	$(call say,integration tests: the built worker in workerd (Miniflare), real WebSockets, headless Chromium)
	node --test --test-concurrency=1 --test-reporter=spec $(INTEGRATION_TESTS)

# The client's unit tests and the integration tests again under the other Node.js LTS lines
# (make test runs them on the machine's node, 20 or newer). Not part of make test: ~6 minutes
# per line.
NODE_LINES := 22.23.5 24.22.3
test-node-lines: integration-deps
	cd client && rm -rf test-dist && ../node_modules/.bin/tsc -p tsconfig.test.json
	@for v in $(NODE_LINES); do \
	  printf '\033[1m==> %s\033[0m\n' "Node.js $$v: client unit tests, integration tests"; \
	  tests/support/node-line.sh $$v bash -c 'cd client && node --test test-dist/test/*.test.js' && \
	  tests/support/node-line.sh $$v node --test --test-concurrency=1 --test-reporter=dot $(INTEGRATION_TESTS) || exit 1; \
	done

deploy-check: build
	$(call say,wrangler deploy --dry-run)
	wrangler deploy --dry-run --outdir build/dry-run

# The whole integration suite a second time with every room spread over fan-out objects
# (issue 25): every server the tests start gets ROOM_FANOUT_CONNECTIONS=2 and
# ROOM_FANOUT_DEGREE=2 (EDGE_CHAT_TEST_FANOUT, read by tests/support/server.mjs; a test's own
# vars still win), so a room of three connections already spans two objects and one of seven
# has fan-out objects relaying to others.
test-fanout: integration-deps
	$(call say,integration tests again with ROOM_FANOUT_CONNECTIONS=2: every room over several objects)
	EDGE_CHAT_TEST_FANOUT=2 node --test --test-concurrency=1 --test-reporter=spec $(INTEGRATION_TESTS)

test: check unit deploy-check integration test-fanout

bench-user-broadcast: build
	$(call say,per-user broadcast to a user in 10 rooms (local workerd))
	node bench/scripts/user_broadcast.mjs 10 300

bench-durable-publish: build
	$(call say,publishes/s and ack latency with and without the durable write (local workerd))
	node bench/scripts/durable_publish.mjs 8 4 5 3
	node bench/scripts/durable_publish.mjs 2 1 4 3

# A big room (issue 25): 1 room × 1,000/2,000/5,000 connections, the room's sends and
# sub-requests per message counted, with and without fan-out objects (bench/scripts/big_room.mjs;
# BIG_ROOM_ARGS="--quick --fanout 250": N = 500, a smoke of both).
BIG_ROOM_ARGS ?= --fanout 1000 --fanout-degree 2
bench-big-room: bench-tools
	$(call say,a big room: 1 room × N connections (bench/scripts/big_room.mjs))
	node bench/scripts/big_room.mjs $(BIG_ROOM_ARGS)

bench-webhooks: build
	$(call say,webhooks on vs off in the base cell (local workerd, bench/scripts/webhooks.mjs))
	cargo build -p edge-chat-bench --release
	node bench/scripts/webhooks.mjs --runs 5

# The original design as a benchmark peer: Debian's redis-server and a venv with the pinned
# FastAPI/uvicorn/redis/PyJWT (bench/peers/fastapi-redis/requirements.txt).
FASTAPI_VENV := bench/peers/fastapi-redis/.venv
fastapi-peer: $(FASTAPI_VENV)/.installed
	@command -v redis-server >/dev/null || { command -v apt-get >/dev/null || { \
	    echo "redis-server is needed by the FastAPI peer of the benchmark: install Redis (macOS: brew install redis; Fedora: dnf install redis; Arch: pacman -S redis)"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; }
$(FASTAPI_VENV)/.installed: bench/peers/fastapi-redis/requirements.txt
	python3 -m venv $(FASTAPI_VENV)
	$(FASTAPI_VENV)/bin/pip install -q -r bench/peers/fastapi-redis/requirements.txt
	@touch $@

# The benchmark (bench/scripts/matrix.mjs says what and how): every peer through the same
# load generator, server on core 0 and generator on core 1, peers alternated, 5 runs per cell;
# then latency at half the JS twin's maximum and the scenarios. Rewrites the generated part of
# docs/benchmarks.md and docs/benchmarks-throughput.svg. About 80 minutes on the reference machine (the big room ~15 of them).
bench-tools: build fastapi-peer
	@command -v taskset >/dev/null || { echo "taskset is missing: apt-get install util-linux"; exit 1; }
	cargo build -p edge-chat-bench --release

bench: bench-tools
	$(call say,benchmark matrix (see bench/scripts/matrix.mjs))
	node bench/scripts/matrix.mjs

# A slice of the matrix (2 cells, every peer, 2 alternated runs): under 3 minutes, no doc change.
bench-quick: bench-tools
	$(call say,benchmark slice (bench/results/quick.json))
	node bench/scripts/matrix.mjs --quick

clean:
	rm -rf build target/wasm32-unknown-unknown
