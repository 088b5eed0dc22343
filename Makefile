# Two commands a newcomer types: `make demo` and `make test`.
# Everything else (virtualenv, packages, Node packages for the protocol tests) is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_DIR := tests/node
PYTEST_ARGS ?=

.PHONY: help install test node demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Reinstalls only when pyproject.toml changed: idempotent and fast otherwise.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,notebooks]'
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
	    (cd "$$dir" && npm install --no-audit --no-fund --loglevel=error) && touch "$$dir/node_modules/.installed" || exit 1; \
	  fi; \
	done

test: install node  ## run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install node  ## run the benchmarks (results go to benchmarks/RESULTS.md by hand)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

demo: install  ## start the embedded hub, the simulator and JupyterLab (completed by later issues)
	$(VENV)/bin/authviz demo

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis $(NODE_DIR)/node_modules
