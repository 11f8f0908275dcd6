# Build and test tooling for django-tasks.  `make test` is what CI runs (via .ci/run).
#
#   make .venv          bootstrap the dev venv (Python 3.11, Django 5.2, all extras)
#   make .venv-django6  bootstrap the Django 6 venv (Python 3.12)
#   make lint           ruff check + ruff format --check
#   make format         ruff check --fix + ruff format
#   make typecheck      mypy + pyright (strict) and the typing tests
#   make test           lint, typecheck, test-core, test-django6, test-third-party, test-soak
#   make test-core      pytest under coverage in .venv, with a coverage floor
#   make test-django6   pytest in .venv-django6
#   make test-third-party  django-tasks-db and django-tasks-rq 0.12 on our package
#   make screenshots    docs/admin-list.png, the README's, from the admin's browser test
#   make test-soak      the quick subset of make soak
#   make soak           real workers under load and faults; soak/results.md
#   make demo | bench | clean

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# Django 6 needs Python >= 3.12.  A pyenv shim called python3.12 can be on PATH and
# still fail ("command not found" when 3.12 is not an active pyenv version), so a
# python3.12 only counts if it actually runs.
PYTHON312 ?= $(shell python3.12 -c 'import sys' >/dev/null 2>&1 && command -v python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python)

VENV := .venv
BIN := $(VENV)/bin
VENV_DJ6 := .venv-django6
BIN_DJ6 := $(VENV_DJ6)/bin
DJANGO6_SPEC ?= Django>=6.1,<6.2

# The editable install of a flat layout maps the top-level package only if it exists
# at install time, so the stamp's name records whether it did: a venv made before
# django_tasks/ existed is reinstalled once when it appears.  Any change to
# pyproject.toml reinstalls too.
PKG_SUFFIX := $(if $(wildcard django_tasks/__init__.py),,-without-package)
VENV_STAMP := $(VENV)/.installed$(PKG_SUFFIX)
VENV_DJ6_STAMP := $(VENV_DJ6)/.installed$(PKG_SUFFIX)
VENV_3P := .venv-third-party
BIN_3P := $(VENV_3P)/bin
VENV_3P_STAMP := $(VENV_3P)/.installed$(PKG_SUFFIX)
# Backends written for upstream django-tasks 0.12, installed without their django-tasks
# dependency (ours replaces it), plus the other dependencies they declare.
THIRD_PARTY_BACKENDS := django-tasks-db==0.12.0 django-tasks-rq==0.12.0
THIRD_PARTY_DEPS := django-stubs-ext 'rq>=2.5' rq-scheduler django-rq

# Only directories that exist are handed to the tools.
LINT_DIRS := $(wildcard django_tasks tests typing_tests example benchmarks third_party_tests soak)
TYPECHECK_DIRS := $(wildcard django_tasks tests typing_tests example)

# One pytest run per settings module (SQLite, PostgreSQL, MariaDB), coverage data from
# every run combined.
TEST_SETTINGS ?= tests.settings tests.settings_postgres tests.settings_mysql
TEST_SETTINGS_DJANGO6 ?= tests.settings
PYTEST_ARGS ?=

# The coverage floor covers the whole package, the RQ backend included.
COVERAGE_FAIL_UNDER ?= 95

.PHONY: help .venv .venv-django6 .venv-third-party lint format typecheck test test-core \
	test-django6 test-third-party test-soak soak screenshots demo bench clean

help:
	@sed -n '3,15s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# --- virtual environments -------------------------------------------------------

.venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	scripts/system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,mysql,rq]'
	rm -f $(VENV)/.installed*
	touch $@

.venv-django6: $(VENV_DJ6_STAMP)

$(VENV_DJ6_STAMP): pyproject.toml
	scripts/system-packages
	$(PYTHON312) -m venv $(VENV_DJ6)
	$(BIN_DJ6)/python -m pip install --quiet -e '.[test,postgres,mysql,rq]' '$(DJANGO6_SPEC)'
	rm -f $(VENV_DJ6)/.installed*
	touch $@

.venv-third-party: $(VENV_3P_STAMP)

$(VENV_3P_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV_3P)
	$(BIN_3P)/python -m pip install --quiet -e '.[test]' $(THIRD_PARTY_DEPS)
	$(BIN_3P)/python -m pip install --quiet --no-deps $(THIRD_PARTY_BACKENDS)
	rm -f $(VENV_3P)/.installed*
	touch $@

# --- lint and types ---------------------------------------------------------------

lint: .venv
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)

format: .venv
	$(BIN)/ruff check --fix $(LINT_DIRS)
	$(BIN)/ruff format $(LINT_DIRS)

# typing_tests/fail_*.py are excluded here (mypy.ini, pyrightconfig.json): check.py
# runs them and requires exactly the marked lines to be rejected.
typecheck: .venv
	$(BIN)/python -m mypy $(TYPECHECK_DIRS)
	$(BIN)/pyright $(TYPECHECK_DIRS)
	$(BIN)/python typing_tests/check.py

# --- tests ------------------------------------------------------------------------

test: lint typecheck test-core test-django6 test-third-party test-soak

test-core: .venv
	rm -f .coverage .coverage.*
	set -e; for settings in $(TEST_SETTINGS); do \
		echo "== pytest --ds=$$settings ($$($(BIN)/python -m django --version | sed 's/^/Django /'))"; \
		$(BIN)/coverage run -m pytest --ds=$$settings $(PYTEST_ARGS); \
	done
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=$(COVERAGE_FAIL_UNDER)

test-django6: .venv-django6
	set -e; for settings in $(TEST_SETTINGS_DJANGO6); do \
		echo "== pytest --ds=$$settings ($$($(BIN_DJ6)/python -m django --version | sed 's/^/Django /'))"; \
		$(BIN_DJ6)/python -m pytest --ds=$$settings $(PYTEST_ARGS); \
	done

# Their own workers (db_worker, rqworker) in subprocesses, on SQLite and Redis.
test-third-party: .venv-third-party
	$(BIN_3P)/python -m pytest third_party_tests --ds=third_party_tests.settings $(PYTEST_ARGS)

# --- the rest ---------------------------------------------------------------------

screenshots: .venv
	DJANGO_TASKS_SCREENSHOTS=docs $(BIN)/python -m pytest \
		tests/database/test_admin_browser.py::test_list_fits_at_1280px_with_the_sidebar_open $(PYTEST_ARGS)

demo: .venv
	$(BIN)/python example/demo.py

bench: .venv
	$(BIN)/python benchmarks/run.py

# Real workers under load and faults on PostgreSQL, MariaDB, SQLite and RQ (soak/run.py);
# the full run stops and restarts the database servers, and writes soak/results.md.
soak: .venv
	$(BIN)/python soak/run.py

test-soak: .venv
	$(BIN)/python soak/run.py --quick

clean:
	rm -rf $(VENV) $(VENV_DJ6) $(VENV_3P) benchmarks/.venv* build dist *.egg-info htmlcov \
		.coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
