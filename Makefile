# Two commands for a newcomer (see README.md):
#   make run    install, start the embedded stack, run the quickstart pipeline live
#   make test   install, then lint, type-check and run every test
# Needs only Python 3.11, pip and make: uv is installed with pip when missing.

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
STATE_DIR ?=
PORT ?= 8000
STATE_ARG := $(if $(STATE_DIR),--state-dir $(STATE_DIR),)

.PHONY: install run down status test lint unit bench

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install
	$(UV) run orchest up $(STATE_ARG) --port $(PORT)
	$(UV) run orchest run examples/quickstart/quickstart.orchest $(STATE_ARG)

down:
	$(UV) run orchest down $(STATE_ARG)

status:
	$(UV) run orchest status $(STATE_ARG)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

test: lint
	$(UV) run pytest

unit: install
	$(UV) run pytest tests/unit

bench: install
	$(UV) run python -m bench
