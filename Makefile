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
# pip's own output (with some pip configurations, a warning per package) goes to this log; a
# line says what is being installed, and the end of the log is shown only when pip fails
INSTALL_LOG := $(VENV)/install.log
PIP := $(PY) -m pip install -q --disable-pip-version-check
PIP_FAILED = { echo "pip failed; the end of $(INSTALL_LOG):"; tail -n 40 $(INSTALL_LOG); exit 1; }

$(STAMP): pyproject.toml executors/sqlite3/pyproject.toml executors/sqlalchemy/pyproject.toml connectors/docker/pyproject.toml executors/sqlite3/setup.py executors/sqlite3/src/_native.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shimkit needs Python >= 3.11 (set PYTHON=python3.11)")'
	@test -x $(PY) || { echo "creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@: > $(INSTALL_LOG); start=$$(date +%s); \
	echo "installing into $(VENV) (pip's log: $(INSTALL_LOG)):"; \
	echo "  pip (upgrade)"; \
	$(PIP) -U pip >>$(INSTALL_LOG) 2>&1 || $(PIP_FAILED); \
	echo "  shimkit, editable, with pyarrow, pandas, s3fs, grpcio, docker and the dev tools (pytest, moto, hypothesis, ruff)"; \
	echo "  executors shimkit-sqlite3 (compiling its C reader) and shimkit-sqlalchemy, connector shimkit-docker-connector (editable)"; \
	SHIM_SQLITE3_NATIVE=require $(PIP) -e '.[dev]' -e executors/sqlite3 -e executors/sqlalchemy -e connectors/docker >>$(INSTALL_LOG) 2>&1 || $(PIP_FAILED); \
	echo "  done in $$(( $$(date +%s) - start ))s: $$($(PY) -m pip list --disable-pip-version-check 2>/dev/null | tail -n +3 | wc -l) packages"
	@touch $(STAMP)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check shim executors connectors tests bench demo

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format shim executors connectors tests bench demo

demo: install
	$(PY) demo/demo.py --runner $(RUNNER)

images: install
	$(VENV)/bin/shim images build

bench: install
	$(PY) bench/run.py
	$(PY) bench/functions.py

# SQLite reader candidates: speed, memory, typing (bench/READERS.md)
bench-readers: install
	$(PY) bench/readers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info demo-data
