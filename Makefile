# Two set-up commands on a fresh machine: `make run` and `make test`.
# Both install from hash-locked files (requirements.lock for the server, requirements-dev.lock for
# tests and tools); `make lock` refreshes them from pyproject.toml's ranges.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q --disable-pip-version-check
APP_STAMP := $(VENV)/.app-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)
LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --quiet

.PHONY: run test lint bench lock clean web web-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) --upgrade pip

# --require-hashes: every package, transitive ones included, must match the lock byte for byte;
# the project itself is then installed without letting pip resolve anything more.
$(APP_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes -r requirements.lock
	$(PIP) --no-deps -e .
	touch $(APP_STAMP)

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(PIP) --require-hashes -r requirements-dev.lock
	$(PIP) --no-deps -e .
	rm -f $(VENV)/.app-*
	touch $(DEV_STAMP) $(APP_STAMP)

run: $(APP_STAMP)
	$(BIN)/relais serve

test: $(DEV_STAMP) web-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check server client crypto media bench deploy tests
	$(BIN)/ruff format --check server client crypto media bench deploy tests
	$(BIN)/mypy

# The browser app: its npm dependencies come from web_client/package-lock.json (`npm ci`, exact
# versions and integrity hashes). The built bundles in web_client/dist are committed, so `make run`
# needs no Node; `make web` rebuilds them and the suite fails when they are stale
# (tests/unit/test_web_bundles.py). Without npm, `make test` goes on and the JS tests skip, except
# under RELAIS_REQUIRE_SERVICES=1 (CI), where they fail.
WEB_STAMP := web_client/node_modules/.lock-$(shell cksum < web_client/package-lock.json | cut -d' ' -f1)

$(WEB_STAMP): web_client/package-lock.json
	cd web_client && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

web-deps:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(WEB_STAMP); \
	else echo "npm not found: the browser app's JS tests will skip"; fi

web: $(WEB_STAMP)
	cd web_client && node build.mjs

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.run_all

# The dev lock is resolved first and constrains the app lock, so both pin the same versions.
lock: | $(BIN)/python
	$(PIP) 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra postgres $(LOCK_FLAGS) \
		-o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra postgres -c requirements-dev.lock $(LOCK_FLAGS) \
		-o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web_client/node_modules
