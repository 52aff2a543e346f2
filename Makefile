# The two commands a newcomer needs:
#   make demo   - the whole provider stack locally (cluster, GPU fleet, TON chain, operator, workers earning)
#   make test   - every test tier (unit, CRD, chain, runtime, chart, e2e) against the real local parts
# Everything they need is installed by `make setup` (idempotent, cached).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: help setup venv binaries triton contracts test test-unit lint lock demo down status generate

help:
	@echo "make demo   - bring up the whole local provider stack and watch it earn"
	@echo "make test   - run all tests (installs and builds what is missing first)"
	@echo "make down   - stop everything the demo started"
	@echo "make lint   - ruff, mypy strict, import contracts"
	@echo "make lock   - re-pin the image's dependencies (requirements/operator.lock)"

$(STAMP): pyproject.toml devstack/pyproject.toml requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e . -e ./devstack -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

binaries:
	bash tools/build-testenv.sh
	bash hack/install-actionlint.sh
	bash hack/install-go-tool.sh promtool
	bash hack/install-go-tool.sh helm-docs

triton:
	bash tools/setup-triton.sh

contracts:
	@if [ -f contracts/package-lock.json ]; then cd contracts && npm ci --no-audit --no-fund --silent; fi

setup: venv binaries triton contracts

test: setup
	bash tools/run-tests.sh

test-unit: venv
	$(VENV)/bin/pytest -q tests/unit

lint: venv
	$(VENV)/bin/ruff check operator devstack tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@# Every test module imports (a moved name fails here in seconds, not after the slow tiers).
	$(VENV)/bin/pytest --collect-only -q -p no:cacheprovider > /dev/null

# The container image's dependencies, pinned with hashes (the Dockerfile installs exactly these; a unit
# test checks that the lock covers pyproject.toml). Run after changing [project].dependencies.
lock: venv
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --no-header -o requirements/operator.lock

demo: setup
	$(VENV)/bin/cocoon-dev demo

down:
	$(VENV)/bin/cocoon-dev down

# Regenerate the generated files (the tests fail when they are stale): the Grafana dashboard JSON and
# the chart README.
generate: venv
	$(VENV)/bin/python -m cocoon_dev.dashboard
	bash hack/helm-docs.sh

status:
	$(VENV)/bin/cocoon-dev status
