# Two commands a newcomer types: `make demo` and `make test`.
# Everything else (virtualenv, packages, Node packages for the protocol tests) is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_DIR := tests/node
NODE_INSTALLED := $(NODE_DIR)/node_modules/.installed
PYTEST_ARGS ?=

.PHONY: help install test node demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Reinstalls only when pyproject.toml changed: idempotent and fast otherwise.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(INSTALLED)  ## create .venv and install authviz with its test extras

# Node packages (pusher-js, soketi) for the interoperability tests; skipped where Node is absent.
$(NODE_INSTALLED): $(NODE_DIR)/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error) && touch $@; \
	else echo "npm not found: Node interoperability tests will be skipped"; fi

node: $(if $(wildcard $(NODE_DIR)/package.json),$(NODE_INSTALLED))  ## install the Node test packages

test: install node  ## run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install node  ## run the benchmarks (results go to benchmarks/RESULTS.md by hand)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

demo: install  ## start the embedded hub, the simulator and JupyterLab (completed by later issues)
	$(VENV)/bin/authviz demo

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis $(NODE_DIR)/node_modules
