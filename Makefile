# Two commands matter: `make run` (start Maestro) and `make test` (the whole suite).
# Both create .venv when needed; `make run` installs only what running needs, `make test` adds the test tools.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean chromium venv screenshots

run: venv $(RUN_STAMP)
	@$(VENV)/bin/maestro --version >/dev/null 2>&1 || { rm -f $(RUN_STAMP); $(MAKE) --no-print-directory $(RUN_STAMP); }
	$(VENV)/bin/maestro

test: venv $(DEV_STAMP) chromium
	$(VENV)/bin/pytest -q

lint: venv $(DEV_STAMP)
	$(VENV)/bin/ruff check .

# A missing, broken or too old .venv (say, made by another Python) is recreated instead of failing forever.
venv:
	@if [ -x $(PY) ] && $(PY) -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then :; else \
	  echo "Creating .venv with $$($(PYTHON) --version 2>&1)…"; \
	  rm -rf $(VENV); \
	  $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Maestro needs Python 3.11 or newer (set PYTHON=python3.12, say)"; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); fi

$(RUN_STAMP): pyproject.toml
	@echo "Installing Maestro and what it needs to run (the first time takes a minute)…"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e .
	@touch $@

$(DEV_STAMP): pyproject.toml
	@echo "Installing Maestro with the test tools…"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e ".[dev]"
	@touch $(RUN_STAMP) $@

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the browser tests…"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Screenshots of the main screens for docs/ and the README, drawn by a real browser from a seeded demo.
screenshots: venv $(DEV_STAMP) chromium
	$(PY) docs/screenshots.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache
