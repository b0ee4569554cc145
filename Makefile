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

.PHONY: run test lint bench lock clean

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

test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check server client crypto media bench tests
	$(BIN)/ruff format --check server client crypto media bench tests
	$(BIN)/mypy

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
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
