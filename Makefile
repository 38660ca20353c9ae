# shimkit — the two commands: `make demo` (the main job end to end) and `make test`.
# Both create ./.venv and install what they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUNNER ?= subprocess
PYTEST_ARGS ?=

.PHONY: install test lint format demo images bench bench-readers clean

install: $(STAMP)

# The SQLite executor's reader is compiled (executors/sqlite3/src/_native.c): a failed build is
# an error here (SHIM_SQLITE3_NATIVE=require) that names what to install.
$(STAMP): pyproject.toml executors/sqlite3/pyproject.toml executors/sqlite3/setup.py executors/sqlite3/src/_native.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shimkit needs Python >= 3.11 (set PYTHON=python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	SHIM_SQLITE3_NATIVE=require $(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' -e executors/sqlite3
	touch $(STAMP)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check shim executors tests bench demo

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format shim executors tests bench demo

demo: install
	$(PY) demo/demo.py --runner $(RUNNER)

images: install
	$(VENV)/bin/shim images build

bench: install
	$(PY) bench/run.py

# SQLite reader candidates: speed, memory, typing (bench/READERS.md)
bench-readers: install
	$(PY) bench/readers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info demo-data
