# All set-up lives here: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: help install install-bench test-deployment demo test unit lint typecheck docs release-check reliability-report bench constraints clean

help:
	@echo "make demo         run the example DAG end to end against the embedded simulator"
	@echo "make test         lint, type-check, build the docs and run the whole test suite"
	@echo "make unit         the pure unit tests only (pytest -m \"not integration\")"
	@echo "make docs         build the documentation site into docs/_build/html"
	@echo "make release-check  build wheel and sdist, install the wheel in a fresh venv, twine check"
	@echo "make reliability-report  run tests/reliability and regenerate docs/reliability.md"
	@echo "make bench        run benchmarks B1-B5 and regenerate docs/benchmarks.md"
	@echo "make test-deployment  run the scenarios on a real deployment (PostgreSQL, scheduler, triggerer, ...)"
	@echo "make constraints  re-resolve constraints.txt on purpose (needs the package index)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Exact versions come from the committed constraints.txt; the package itself is installed editable.
$(STAMP): $(BIN)/uv pyproject.toml constraints.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site, warnings as errors, into docs/_build/html.
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# Builds the wheel and sdist, checks them with twine, installs the wheel into a fresh venv (tests/packaging).
release-check: $(STAMP)
	$(BIN)/pytest tests/packaging -q
	$(BIN)/twine check --strict dist/*

# The pure unit tests: no simulator served, no Airflow database, no subprocess (about half a minute).
unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration and not deployment"

test: lint typecheck docs
	$(BIN)/pytest -q

install-bench: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[dev,bench]"

# Every benchmark side by side with its alternatives; writes benchmarks/results.json, plots, docs/benchmarks.md.
bench: install-bench
	$(BIN)/python benchmarks/run.py

# A real deployment on this machine: PostgreSQL, scheduler, triggerer, dag-processor, api-server (tests/deployment).
test-deployment: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[dev,deployment]"
	TELNYX_DEPLOYMENT_REPORT=docs/production-figures.md $(BIN)/pytest tests/deployment -m deployment -q -p no:cacheprovider

# Runs the reliability suite and regenerates docs/reliability.md from the figures it measured.
reliability-report: $(STAMP)
	TELNYX_RELIABILITY_REPORT=docs/reliability.md $(BIN)/pytest tests/reliability -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

constraints: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra testing --extra bench --extra deployment --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-header --annotation-style line -o constraints.txt

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache docs/_build
