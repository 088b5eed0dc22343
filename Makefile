# Two commands a newcomer types: `make demo` and `make test`.
# Everything else (virtualenv, packages, Node packages for the protocol tests) is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_DIR := tests/node
PYTEST_ARGS ?=

.PHONY: help install test lint node redis demo bench clean e2e

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Reinstalls only when pyproject.toml changed: idempotent and fast otherwise.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# (setuptools' "Editable installation" banner is a warning for packagers, not for this install)
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,notebooks]'
	$(PY) -m authviz.widgets.serverext
	@touch $@

install: $(INSTALLED)  ## create .venv and install authviz with its test extras

# Node packages for the interoperability tests (pusher-js, soketi): every tests/node/*/package.json
# is installed from the npm registry when it changed. Skipped, with a note, where npm is absent.
node:  ## install the Node test packages
	@for dir in $(NODE_DIR)/*/; do \
	  [ -f "$$dir/package.json" ] || continue; \
	  if ! command -v npm >/dev/null 2>&1; then echo "npm not found: Node tests will be skipped"; break; fi; \
	  if [ ! -f "$$dir/node_modules/.installed" ] || [ "$$dir/package.json" -nt "$$dir/node_modules/.installed" ]; then \
	    echo "npm install in $$dir"; \
	    (cd "$$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi) && touch "$$dir/node_modules/.installed" || exit 1; \
	  fi; \
	done

# Notebooks 00-06 run top to bottom in local mode (embedded hub, seeded simulator) and their
# outputs are compared strictly (nbval); live cells are tagged nbval-ignore-output.
NBVAL_NOTEBOOKS ?= notebooks/0[0-6]_*.ipynb
NBVAL_ARGS ?= --nbval --nbval-cell-timeout=60 --nbval-sanitize-with tests/nbval_sanitize.cfg

# ruff (rules in pyproject.toml [tool.ruff]) and the import-linter contracts ([tool.importlinter]:
# the layers, argparse only in authviz.cli); the environment rule is ruff's TID251.
lint: install  ## check the code with ruff (lint and format) and the architecture contracts
	$(VENV)/bin/ruff check authviz tests benchmarks
	$(VENV)/bin/ruff format --check authviz tests benchmarks
	$(VENV)/bin/lint-imports

# Debian's redis-server joins the soketi nodes of the cluster tests (tests/test_cluster.py start
# their own on a free port, in memory only). Installed with apt-get when missing.
redis:  ## install Debian's redis-server for the cluster tests (when missing)
	@command -v redis-server >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; }

test: install node lint redis  ## run the whole test suite (after `make lint`)
	$(PY) -m pytest $(PYTEST_ARGS)
	AUTHVIZ_NOTEBOOK_MODE=local $(PY) -m pytest $(NBVAL_ARGS) $(NBVAL_NOTEBOOKS)

# JupyterLab headless + Debian's chromium driven by Playwright (no browser download); screenshots
# go to artifacts/e2e/.
e2e: install  ## run the notebooks in a real browser (installs Debian's chromium when missing)
	@command -v chromium >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	AUTHVIZ_E2E=1 $(PY) -m pytest tests/e2e $(E2E_ARGS)

bench: install node redis  ## run the benchmarks (results go to benchmarks/RESULTS.md by hand)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Options pass through: make demo ARGS="--scenario credential-stuffing --rate 10"
ARGS ?=
demo: install  ## start the hub + bridge, the simulator, JupyterLab and the dashboard (Ctrl-C stops all; ARGS="...")
	$(VENV)/bin/authviz demo $(ARGS)

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis $(NODE_DIR)/*/node_modules
