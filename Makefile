# The two commands of the quick start. Each sets up .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: the suite runs its servers on ephemeral loopback ports, one set per worker.
WORKERS ?= auto

.PHONY: setup run test lint clean soak

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

# The kill -9 fault test at full length: 100 seeded kills (make test runs 6). RELIABILITY_SEED replays.
soak: setup
	RELIABILITY_KILLS=100 $(BIN)/pytest tests/reliability/test_kill.py

clean:
	rm -rf $(VENV) reports .mypy_cache .ruff_cache .pytest_cache
