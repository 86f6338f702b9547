# Two commands on a fresh machine: `make up` and `make test`. Each bootstraps .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bootstrapped
ENV := source cluster/local/env.sh &&

.PHONY: help bootstrap up down status test lint fmt dashboards manifests bench models

help:
	@echo "make up      start a local Ray cluster, deploy serve_config.yaml, print URLs"
	@echo "make down    stop what make up started"
	@echo "make models  build the example model repository (model_repository/) if missing"
	@echo "make status  serve status of the local cluster"
	@echo "make test    run the test suite (starts its own private cluster)"
	@echo "make lint    ruff + mypy"
	@echo "make bench   CPU benchmark: raw model, naive Serve app, this app -> benchmarks/RESULTS.md"
	@echo "make dashboards  regenerate monitoring/grafana/dashboards/*.json"
	@echo "make manifests   regenerate cluster/kuberay/rayservice*.yaml from serve_config.yaml"

# Re-runs only when the dependency list changes; torch/ray pins live in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@# promtool (Debian's prometheus package) checks the alert rules in the test suite.
	@cluster/local/prometheus.sh install
	@touch $@

bootstrap: $(STAMP)

# Generated, never committed (seconds, offline): the example models of serve_config.yaml's
# predictors/multiplexed, and its demo generator (random weights). Missing ones only:
# `rm -rf model_repository` first to rebuild.
models: bootstrap
	$(BIN)/python -m deployments.examples.iris_classifier --root model_repository --only-missing
	@test -f model_repository/tiny-gpt2/config.json || \
	  $(BIN)/python -m deployments.examples.tiny_gpt2 --out model_repository/tiny-gpt2

up: bootstrap models
	@$(ENV) cluster/local/start.sh
	@# First run only: issue an API key, print it once, keep only its hash (.run/api_keys.json).
	@$(ENV) python -m deployments.manage_keys ensure local
	@$(ENV) cluster/local/deploy.sh serve_config.yaml
	@$(ENV) cluster/local/prometheus.sh start
	@$(ENV) cluster/local/urls.sh

down:
	@$(ENV) cluster/local/prometheus.sh stop
	@$(ENV) cluster/local/stop.sh

status: bootstrap
	@$(ENV) serve status

test: bootstrap models
	$(BIN)/pytest

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy deployments cluster tests monitoring benchmarks

# Raw-model ceiling, naive Serve baseline and our app in one run -> benchmarks/RESULTS.md.
bench: bootstrap
	benchmarks/run_cpu.sh

manifests: bootstrap
	$(BIN)/python cluster/kuberay/generate.py

dashboards: bootstrap
	$(BIN)/python -m monitoring.grafana.dashboards

fmt: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
