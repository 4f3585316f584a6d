# All set-up lives here: `make demo` and `make test` work on a fresh machine with any Python 3.10-3.13.
# The venv is made with the newest of 3.13, 3.12, 3.11 and 3.10 found (scripts/find-python.sh); PYTHON=... overrides.
PYTHON ?= $(shell scripts/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# Every command here may write bytecode: pytest's assertion-rewritten modules (of the tests and of every plugin's
# package: schemathesis, hypothesis, anyio, this package, about 430 modules) and this checkout's own modules, which
# the install's --compile-bytecode does not reach. Where PYTHONDONTWRITEBYTECODE is set, each pytest process (three
# workers, a sample project's run, each compatibility venv) rewrote and compiled them all again (4 s of CPU each),
# and each Airflow subprocess compiled this package again.
unexport PYTHONDONTWRITEBYTECODE
# make suite's pytest-xdist workers (see suite).
WORKERS ?= 3
# The package's user-facing extras every development venv has (the development tools are dependency groups).
EXTRAS := .[testing,parquet,openlineage]

.PHONY: help install install-bench test-compat test-deployment demo test suite unit lint typecheck docs release-check reliability-report bench constraints clean

help:
	@echo "make demo         run the example DAG end to end against the embedded simulator"
	@echo "make test         lint, type-check, build the docs and run the whole test suite (make suite: the tests alone)"
	@echo "make unit         the pure unit tests only (pytest -m \"not integration and not deployment and not browser\")"
	@echo "make docs         build the documentation site into docs/_build/html"
	@echo "make release-check  build wheel and sdist, install the wheel in a fresh venv, twine check"
	@echo "make reliability-report  run tests/reliability and regenerate docs/reliability.md"
	@echo "make bench        run benchmarks B1-B6 and regenerate docs/benchmarks.md"
	@echo "make test-compat  unit tests and example DAGs on Airflow 3.0, 3.1, 3.2 and 3.3 (Python 3.10 and 3.13)"
	@echo "make test-deployment  run the scenarios on a real deployment (PostgreSQL, scheduler, triggerer, ...)"
	@echo "make constraints  re-resolve constraints.txt on purpose (needs the package index)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "No Python 3.10-3.13 found: install one, or run make PYTHON=/path/to/python3.X" >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Exact versions come from the committed constraints.txt; the package itself is installed editable. Compiled to
# bytecode once here: every test process (and each `dag.test()` or `airflow` subprocess the suite starts) would
# otherwise compile Airflow's modules again wherever PYTHONDONTWRITEBYTECODE is set (5-6 s of CPU each).
$(STAMP): $(BIN)/uv pyproject.toml constraints.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e "$(EXTRAS)" --group dev
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
	$(BIN)/pytest -q -m "not integration and not deployment and not browser"

# The whole test suite: three workers (pytest-xdist) on this 2-core machine, each module (and each documentation
# page, whose blocks share a namespace) on one worker; a worker spends about a third of its time waiting (on
# simulated calls, on the time a call is due, on subprocesses), which a third worker fills. Modules go out in the
# order conftest.py gives them (long_running ones first), so the workers end together. Branch coverage printed, and
# checked against fail_under (pyproject.toml); no_cover tests run untraced (conftest.py's pytest_sessionstart).
suite: $(STAMP)
	$(BIN)/pytest -q --hypothesis-profile=ci -n $(WORKERS) --dist loadscope --no-loadscope-reorder --cov --cov-report=term

# lint, typecheck and docs run beside the suite, filling more of its workers' waits; their lines and the suite's
# progress come as they are written, never cut into, and any failure fails make test (after the suite has ended:
# make waits for the jobs it started).
test: $(STAMP)
	@$(MAKE) --no-print-directory -j 4 --output-sync=line lint typecheck docs suite

install-bench: $(STAMP)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e "$(EXTRAS)" --group dev --group bench

# Every benchmark side by side with its alternatives; writes benchmarks/results.json, plots, docs/benchmarks.md.
bench: install-bench
	$(BIN)/python benchmarks/run.py

# Every supported Airflow minor in its own venv (.venv-compat/), pinned by constraints/; writes docs/compatibility.md.
# Installs Debian's chromium for the connection-form test when it can (root and apt), else that test is skipped.
test-compat: $(STAMP)
	scripts/install-chromium.sh
	$(BIN)/python scripts/test_compat.py

# A real deployment on this machine: PostgreSQL, scheduler, triggerer, dag-processor, api-server (tests/deployment).
test-deployment: $(STAMP)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e "$(EXTRAS)" --group dev --group deployment
	TELNYX_DEPLOYMENT_REPORT=docs/production-figures.md $(BIN)/pytest tests/deployment -m deployment -q -p no:cacheprovider

# Runs the reliability suite and regenerates docs/reliability.md from the figures it measured.
reliability-report: $(STAMP)
	TELNYX_RELIABILITY_REPORT=docs/reliability.md $(BIN)/pytest tests/reliability -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# Re-resolves every constraints file on purpose (needs the package index): constraints.txt for Airflow 3.3 and
# every Python 3.10-3.13 (a universal resolution), and constraints/airflow-3.X.txt for make test-compat.
COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.10 --no-header --annotation-style line
constraints: $(BIN)/uv
	$(COMPILE) --extra testing --extra parquet --extra openlineage --group dev --group bench --group deployment --group browser -o constraints.txt
	for pins in constraints/airflow-3.*.in; do \
		$(COMPILE) $$pins --extra testing --extra parquet --extra openlineage --group dev --group browser -o $${pins%.in}.txt || exit 1; \
	done

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache docs/_build
