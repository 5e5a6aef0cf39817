# Two entry points: `make demo` (the main job) and `make test` (every test).
# Both build .venv from nothing but Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/annotate demo

# System packages the tests use (PostgreSQL server, Chromium); installed when missing
# and we are root with apt, otherwise those tests skip with a message.
system-deps:
	bash scripts/system-deps.sh

# Every test, in WORKERS pytest-xdist processes: more than the 2 cores of the development
# machine, since many tests wait on PostgreSQL, Chromium or a terminal. Tests of one
# xdist_group share a worker (tests/conftest.py). WORKERS=0 runs them in one process.
WORKERS ?= 2
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

# The hostile-file and hostile-import property tests under the slow hypothesis profile:
# 12 times the examples, new ones each run (tests/hypothesis_profiles.py; ~1 h on one core).
test-slow: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup --hypothesis-profile=slow tests/test_hostile_files.py tests/services/test_import_hostile.py

lint: $(STAMP)
	$(BIN)/ruff check annotate cli store tui tests bench
	$(BIN)/ruff format --check annotate cli store tui tests bench
	$(BIN)/mypy annotate cli store tui
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/bench_import.py

clean:
	rm -rf $(VENV) annotate.db annotate.db-wal annotate.db-shm
