# `make run` starts Planner on this machine; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install dev run test lint format docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

# First run: a .env from .env.example, with a random PLANNER_SECRET_KEY (it encrypts the
# keys users paste; keep it safe and keep it: without it they cannot be read).
.env:
	$(BIN)/python -c "import pathlib; from cryptography.fernet import Fernet; \
	text = pathlib.Path('.env.example').read_text(); \
	pathlib.Path('.env').write_text(text.replace('PLANNER_SECRET_KEY=\n', \
	'PLANNER_SECRET_KEY=' + Fernet.generate_key().decode() + '\n'))"
	@echo "Wrote .env with a random PLANNER_SECRET_KEY."

run: install .env
	@grep -q '^PLANNER_SECRET_KEY=.' .env || { echo "PLANNER_SECRET_KEY=$$($(BIN)/planner \
	secrets new-key)" >> .env && echo "Added a random PLANNER_SECRET_KEY to .env."; }
	@if grep -q '^COMPOSIO_WEBHOOK_SECRET=local-' .env; then \
	sed -i.bak '/^COMPOSIO_WEBHOOK_SECRET=local-/d' .env && rm -f .env.bak && echo "Removed the local \
	COMPOSIO_WEBHOOK_SECRET from .env: Settings → Composio → Connect stores Composio's."; fi
	$(BIN)/planner migrate
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --port 8501 web

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The documentation site (mkdocs.yml) into site/. --strict fails on a broken link or a page
# left out of the nav; the notice Material for MkDocs prints about MkDocs 2.0 is turned off.
docs: dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# worksteal: a worker that runs out of tests takes some queued on a busy one, so the
# suite's last minute is not one worker's queue run alone.
test: lint docs
	$(BIN)/pytest --numprocesses auto --dist worksteal

# `make bench BACKEND=postgres` runs them on TEST_DATABASE_URL's server and TEST_QUEUE_URL.
BACKEND ?= sqlite
bench: dev
	$(BIN)/python bench/dispatch.py --backend $(BACKEND)
	$(BIN)/python bench/webhook.py --backend $(BACKEND)
	$(BIN)/python bench/web.py --backend $(BACKEND)
	$(BIN)/python bench/dashboard.py --backend $(BACKEND)
	$(BIN)/python bench/system.py --backend $(BACKEND)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# requirements.txt: what hosts that run `pip install -r requirements.txt` (Heroku, Render,
# Railway) install: pyproject.toml's dependencies pinned to the versions .venv has, which
# are the versions the tests run with, and Planner itself (the line "."). Run it after any
# change to the dependencies, then commit requirements.txt; never edit that file by hand.
.PHONY: lock
lock: $(VENV)/.installed
	$(BIN)/pip install --quiet uv
	$(BIN)/pip freeze --exclude-editable > $(VENV)/tested-versions.txt
	printf '.\n' | $(BIN)/uv pip compile - --universal --python-version 3.11 \
		--constraint $(VENV)/tested-versions.txt --annotation-style line --no-header \
		--quiet --output-file $(VENV)/requirements.lock
	{ printf '%s\n' \
		"# Made by \`make lock\` from pyproject.toml and the versions in .venv (those the tests" \
		"# run with). Do not edit by hand: change pyproject.toml, then run \`make lock\` again." \
		"# The line \".\" installs Planner itself, and with it the \`planner\` command." \
		"# Railway's builder (Railpack) copies the source in before this install only when" \
		"# this file contains the text file:// (as this line does); without it \".\" is empty."; \
		grep -vx '\.' $(VENV)/requirements.lock | sed 's|, -c $(VENV)/tested-versions.txt||'; \
		printf '.\n'; } > requirements.txt
