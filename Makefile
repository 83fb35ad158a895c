# Herald: `make run` and `make test` do all the set-up on a fresh machine
# (python3 ≥ 3.11, git and npm). See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HTMX := webapp/static/htmx.min.js
ENV_FILE := instance/herald.env
FLASK := $(BIN)/flask --app app
PYTEST_ARGS ?=
SERVE_ARGS ?=

.PHONY: run setup test lint venv htmx axe clean

venv: $(STAMP)

# Reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: Herald needs Python ≥ 3.11; '$(PYTHON)' is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "       Run e.g. 'make PYTHON=python3.11 $(MAKECMDGOALS)'." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "error: could not create $(VENV) (on Debian/Ubuntu: apt-get install python3-venv)." >&2; \
	  exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[embedded,dev]'
	@touch $@

# Verified on every run (a no-op when the installed file has the pinned checksum).
htmx:
	@scripts/install_htmx.sh

# The accessibility checker the browser tests inject into every page (never served).
axe:
	@scripts/install_axe.sh

# Secrets for a local run, generated once; the environment wins over this file.
$(ENV_FILE): | $(STAMP)
	@mkdir -p $(dir $@)
	@umask 077 && { \
	  echo "SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')"; \
	  echo "HERALD_ENCRYPTION_KEY=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"; \
	} > $@.tmp && mv $@.tmp $@
	@echo "Generated $@ (SECRET_KEY, HERALD_ENCRYPTION_KEY); keep it, it decrypts stored secrets."

# What `make run` does before it starts Herald: migrations, and a demo company on a new
# database. (tests/test_readme_cli.py runs it in a copy of the checkout.)
setup: $(STAMP) htmx $(ENV_FILE)
	@$(FLASK) db upgrade
	@$(FLASK) demo quickstart

# Every command reads instance/herald.env itself (webapp/config.py): no env handling here.
# Another port: `PORT=5201 make run` (or SERVE_ARGS="--port 5201"). Unlike a platform's PORT,
# this one stays on 127.0.0.1 unless HOST says otherwise.
run: setup
	@HOST="$${HOST:-127.0.0.1}" exec $(FLASK) serve $(SERVE_ARGS)

# pytest's exit status is make's: 5 (no tests collected) fails too.
test: $(STAMP) htmx axe
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

# Keeps instance/ (the database and the keys that decrypt its secrets).
clean:
	rm -rf $(VENV) $(HTMX) tests/e2e/browser/axe.min.js .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
