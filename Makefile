# The template's own tasks. Target names match the generated repo's: install, lint, format,
# test; plus demo (bake, train, serve, predict) and bench.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
# uv, hash-pinned: bootstrapped with pip where it is not on PATH.
UV_LOCK := '{{cookiecutter.project_slug}}/scripts/uv-requirements.lock'
# The one interpreter finder and the one tool provisioner, shared with every generated repo.
FIND_PYTHON := '{{cookiecutter.project_slug}}/scripts/find-python'
ENSURE_TOOLS := '{{cookiecutter.project_slug}}/scripts/ensure-tools'
# What the tests need beside Python: make, git and kubectl must exist; promtool, Prometheus,
# Alertmanager and amtool (which each bake links into its own .venv/bin) are installed with
# apt-get or Homebrew when missing (SYSTEM_INSTALL=no only names the command).
REQUIRED_TOOLS := make git kubectl
TOOLS := $(REQUIRED_TOOLS) promtool prometheus alertmanager amtool
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install tools lint format test test-fast demo bench bench-runtimes lock relock-generated clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv (Python 3.12) with the template's dev tools

$(VENV)/.installed: pyproject.toml requirements.lock
	@$(ENSURE_TOOLS) $(REQUIRED_TOOLS)
	@python="$$($(FIND_PYTHON))" && "$$python" -m venv --clear $(VENV)
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(UV_LOCK)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	@touch $@

lint: install ## ruff over both templates' hooks, tests, scripts and benchmarks
	$(BIN)/ruff check hooks platform/hooks tests scripts benchmarks
	$(BIN)/ruff format --check hooks platform/hooks tests scripts benchmarks

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix hooks platform/hooks tests scripts benchmarks
	$(BIN)/ruff format hooks platform/hooks tests scripts benchmarks

tools: ## check (or install) the command-line tools every tier needs, before anything else
	@$(ENSURE_TOOLS) $(TOOLS)

# Two xdist workers: the fast tier is spread over both; the slow tier runs as two halves side
# by side, each in order (see tests/conftest.py).
PYTEST := $(BIN)/pytest -n 2 --dist loadgroup

test: tools install ## every tier: bakes, hooks, then installs two bakes and runs their own tests
	$(PYTEST) -m "not slow"
	$(PYTEST) -m slow --durations=10

test-fast: install ## the bake and hook tests only (under a minute)
	$(PYTEST) -m "not slow"

demo: install ## bake a model repo, train, register, serve, predict, print, stop
	$(BIN)/python -m scripts.demo

bench: install ## time the demo from bake to first prediction
	$(BIN)/python benchmarks/demo_time.py

bench-runtimes: install ## each generated serving runtime against its plain runtime, interleaved (wrk)
	$(BIN)/python benchmarks/serving_runtimes.py

# The versions already pinned are kept where they still fit (uv prefers those of the file it
# writes): adding a tool does not move the others.
lock: install ## re-resolve requirements.lock after changing pyproject.toml
	@uv="$$(command -v uv || echo $(BIN)/uv)"; cp requirements.lock requirements.lock.new && { \
		echo "# The template's dev tools, pinned with the hashes of their files: make lock regenerates"; \
		echo "# it from pyproject.toml; make install checks every file (--require-hashes)."; \
		"$$uv" pip compile --quiet --universal --generate-hashes --python-version 3.12 --no-header \
			pyproject.toml --output-file requirements.lock.new >/dev/null && cat requirements.lock.new; \
	} > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

relock-generated: install ## re-resolve the generated repo's requirements.lock
	$(BIN)/python scripts/relock_generated.py

clean: ## remove the virtualenv and build output
	rm -rf $(VENV) build .pytest_cache .ruff_cache
