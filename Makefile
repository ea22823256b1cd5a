# The two commands of the quick start. Each sets up .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: the suite runs its servers on ephemeral loopback ports, one set per worker.
WORKERS ?= auto

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/vmharness run scenarios --report reports

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(WORKERS)

# Benchmarks print their figures; they are never part of make test.
bench: setup
	for script in bench/*.py; do $(BIN)/python "$$script" || exit 1; done

clean:
	rm -rf $(VENV) reports .mypy_cache .ruff_cache .pytest_cache
