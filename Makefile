# The two commands of the quick start. Each sets up .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: the suite runs its servers on ephemeral loopback ports, one set per worker.
# Two per core: most tests wait on the clock (prompts played at real time, timers, peers
# starting), not on the CPU.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2 * (os.cpu_count() or 1))')
# Scenarios `make run` runs at once, each with its own server, simulator and ports.
JOBS ?= auto

.PHONY: setup run test lint bench interop soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/vmharness run scenarios -j $(JOBS) --report reports

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(WORKERS)

# Benchmarks print their figures; they are never part of make test.
# They measure the server as it is run for speed: with the `fast` extra (uvloop).
bench: setup
	$(BIN)/pip install --quiet -e '.[dev,fast]'
	for script in bench/*.py; do $(BIN)/python "$$script" || exit 1; done
# The whole scenario library against a real Asterisk the harness configures per scenario
# (built by `python3 -m harness.peers.asterisk_build`, as .ci/run does).
interop: setup
	$(BIN)/vmharness run scenarios --target asterisk --report reports/asterisk

# The kill -9 fault test at full length: 100 seeded kills (make test runs 6). RELIABILITY_SEED replays.
soak: setup
	RELIABILITY_KILLS=100 $(BIN)/pytest tests/reliability/test_kill.py

clean:
	rm -rf $(VENV) reports .mypy_cache .ruff_cache .pytest_cache

# Longer fuzzing of the voicemail server's SIP front (UDP and TCP); part of `make soak`.
FUZZ_EXAMPLES ?= 3000
.PHONY: fuzz soak
fuzz: setup
	VMHARNESS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s tests/voicemail/hostile/test_answer_everything.py
soak: fuzz
