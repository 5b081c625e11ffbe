# DataWiz developer commands. `make demo` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install demo test test-reliability bench lint clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "DataWiz needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the locked dependencies

demo: $(STAMP)  ## sample data -> evening + morning on the embedded DuckDB -> summary
	$(BIN)/datawiz demo

test: $(STAMP)  ## the whole test suite with line coverage
	$(BIN)/pytest -q --cov=tasks --cov=blocks --cov=flows --cov=datawiz --cov-report=term tests

test-reliability: $(STAMP)  ## fault injection (docs/RELIABILITY.md): kills, outages, races, hostile input; ~10 min
	@mkdir -p logs
	DATAWIZ_RELIABILITY=1 DATAWIZ_RELIABILITY_SUMMARY=logs/reliability-summary.json $(BIN)/pytest -q tests/reliability

bench: $(STAMP)  ## benchmarks (numbers, not tests): every case of docs/PERFORMANCE.md, which it rewrites (~15 min)
	$(BIN)/python -m bench

lint: $(STAMP)  ## ruff, mypy (blocks tasks flows datawiz/core) and the import layers (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/mypy blocks tasks flows datawiz/core
	$(BIN)/lint-imports

clean:  ## remove local data, caches and the venv
	rm -rf data logs $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .grimp_cache .coverage
