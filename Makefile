# Preflight — every target sets up what it needs; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SRC := index service tests benchmarks loadtest

.DEFAULT_GOAL := help
.PHONY: help venv system-deps lint format rules-test rust-check test eval bench clean proto proto-check run screen bench-service loadtest compare compare-deps

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

CRATE := index
RUST_SRC := $(wildcard $(CRATE)/src/*.rs $(CRATE)/src/*/*.rs) $(CRATE)/Cargo.toml $(CRATE)/Cargo.lock

$(STAMP): pyproject.toml $(RUST_SRC)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=68' 'setuptools-rust>=1.9'
	# No build isolation: a rebuild after a change to the core reuses the venv's build tools
	# (and cargo's incremental state) instead of fetching them into a fresh environment.
	$(PY) -m pip install --quiet --no-build-isolation -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install Preflight with its dev tools

system-deps:  ## install redis-server and promtool (Debian's prometheus) with apt-get when missing
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  SUDO=$$(command -v sudo || true); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

format: $(STAMP)  ## rewrite the code in the project's format
	$(VENV)/bin/ruff format $(SRC)
	$(VENV)/bin/ruff check --fix $(SRC)
	cd $(CRATE) && cargo fmt

# The crate's own tests run without the Python feature (a test binary cannot link the
# extension module's Python symbols) and in release mode, so they reuse the dependencies that
# the extension's release build compiled.
rust-check: $(STAMP)  ## cargo fmt --check, clippy -D warnings, cargo test (unit + proptest)
	cd $(CRATE) && cargo fmt --check
	cd $(CRATE) && cargo clippy --locked --all-targets -- -D warnings
	cd $(CRATE) && cargo test --locked --release --no-default-features

lint: $(STAMP)  ## format check, ruff, mypy --strict and the import contracts
	$(VENV)/bin/ruff format --check $(SRC)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

rules-test: system-deps  ## promtool: check the Prometheus rules and run their unit tests
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/tests/alerts_test.yml

test: $(STAMP) system-deps lint rust-check proto-check rules-test  ## set up, lint, proto drift check, rule tests, and the whole test suite (index coverage >= 95% by its own tests)
	# The core's branch coverage is measured on its own unit tests; tracing the served index
	# through the service and fuzz tests as well would add minutes and no coverage.
	$(VENV)/bin/pytest --cov --cov-report=term tests/index
	$(VENV)/bin/pytest --ignore=tests/index

eval: $(STAMP)  ## quality on the labelled evaluation set -> reports/eval.json
	$(PY) -m benchmarks.eval_report

bench: $(STAMP)  ## core speed and memory at 100k and 1M incidents -> reports/bench.json
	$(PY) -m benchmarks.bench_index

DEMO_STORE := sqlite:///.preflight/demo.db
PORT ?= 50051
METRICS_PORT ?= 9464
SHOWCASE := --business-name 'Shanghai Hongda Chemical Co., Ltd' --country CN --phone '+86 21 5555 0188'
run: $(STAMP)  ## set up, load demo incidents into the embedded store, serve on 127.0.0.1:50051 (or PORT=, METRICS_PORT=)
	@test -f .preflight/demo.db || $(VENV)/bin/preflight demo --store-url $(DEMO_STORE)
	@echo ""
	@echo "In another terminal, screen an item (expect RED): make screen PORT=$(PORT)"
	@echo ""
	@echo "Serving WITHOUT TLS (--allow-plaintext) on loopback: local development only."
	@echo "Metrics: http://127.0.0.1:$(METRICS_PORT)/metrics"
	$(VENV)/bin/preflight serve --store-url $(DEMO_STORE) --listen 127.0.0.1:$(PORT) \
	  --metrics-listen 127.0.0.1:$(METRICS_PORT) --allow-plaintext

screen: $(STAMP)  ## screen the demo's RED item against `make run` on PORT (exit 1 = AMBER/RED, as expected)
	@status=0; $(VENV)/bin/preflight screen --target 127.0.0.1:$(PORT) $(SHOWCASE) || status=$$?; \
	echo "exit status $$status (0 GREEN, 1 AMBER or RED, 2 bad input, 3 server unreachable)"; \
	test $$status -le 1

clean:  ## remove the venv, caches and reports
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage reports *.egg-info .preflight $(CRATE)/target $(CRATE)/_core*.so

PROTO_SRC := proto/preflight/v1/preflight.proto
PROTOC = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m grpc_tools.protoc -Iproto

proto: $(STAMP)  ## regenerate the Python, gRPC and mypy stubs beside the .proto files
	$(PROTOC) --python_out=proto --grpc_python_out=proto --mypy_out=proto --mypy_grpc_out=proto \
	  $(PROTO_SRC)

proto-check: $(STAMP)  ## fail when the committed generated files differ from the .proto
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(PROTOC) --python_out=$$tmp --grpc_python_out=$$tmp --mypy_out=$$tmp --mypy_grpc_out=$$tmp \
	  $(PROTO_SRC); \
	for f in preflight_pb2.py preflight_pb2_grpc.py preflight_pb2.pyi preflight_pb2_grpc.pyi; do \
	  cmp -s $$tmp/preflight/v1/$$f proto/preflight/v1/$$f || \
	    { echo "proto/preflight/v1/$$f is stale: run make proto"; exit 1; }; \
	done; echo "generated code matches the .proto"

loadtest: $(STAMP)  ## locust postal + customs scenarios against a served 1M-incident store -> reports/loadtest.json
	$(PY) -m loadtest.run

compare-deps:  ## install PostgreSQL 15 with PostGIS and pg_trgm, and redis-server, with apt-get when missing
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	test -x /usr/lib/postgresql/15/bin/postgres || missing="$$missing postgresql-15"; \
	test -f /usr/share/postgresql/15/extension/postgis.control || missing="$$missing postgresql-15-postgis-3"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt-get"; \
	  SUDO=$$(command -v sudo || true); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

compare: $(STAMP) compare-deps  ## Preflight vs PostGIS+pg_trgm and Redis baselines, same data and requests -> reports/compare.json + .md
	$(PY) -m benchmarks.compare.run

bench-service: $(STAMP)  ## the whole service at 1M incidents: start-up, unary, manifest, freshness -> reports/bench-service.json
	$(PY) -m benchmarks.bench_service
