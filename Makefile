# The README's two commands: `make run` (serve on the embedded SQLite default) and `make test`.
# Both create .venv on first use and reinstall only when setup.cfg or pyproject.toml change.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; \
	done)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-quick lint format typecheck clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "omlsvc needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

# perf_analyzer, which the Open Inference Protocol tests drive (README, "Open Inference Protocol"): the
# last tritonclient wheel that bundles one built for an older glibc, beside the CUDA runtime library it
# links (loaded, never used over HTTP); --no-deps --target keeps its numpy < 2 pin out of the venv.
# It also needs libb64-0d from apt, a system package like nginx and chromium.
PERF_ANALYZER := $(VENV)/perf_analyzer/bin/perf_analyzer

$(PERF_ANALYZER): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/perf_analyzer \
		'tritonclient==2.51.0' 'nvidia-cuda-runtime-cu12>=12,<13'

run: $(VENV)/.installed
	$(BIN)/omlsvc serve

test: $(VENV)/.installed-dev $(PERF_ANALYZER)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

test-quick: $(VENV)/.installed-dev $(PERF_ANALYZER)
	$(BIN)/python -m pytest -n auto -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check omlsvc tests bench
	$(BIN)/ruff format --check omlsvc tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format omlsvc tests bench
	$(BIN)/ruff check --fix omlsvc tests bench

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
