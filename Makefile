# Two commands for a newcomer (see README.md):
#   make run    install, start the embedded stack, run the quickstart pipeline live
#   make test   install, then lint, type-check and run every test
# Needs only Python 3.11, pip and make: uv is installed with pip when missing.

UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
STATE_DIR ?=
PORT ?= 8000
STATE_ARG := $(if $(STATE_DIR),--state-dir $(STATE_DIR),)
# make test DOCKER=0 leaves the Docker tier (tests/docker) out, and says so;
# make test PYTEST_ARGS='tests/unit -x' passes arguments to pytest;
# make test WORKERS=0 runs the tests in one process (default: 2, pytest-xdist).
DOCKER ?= 1
PYTEST_ARGS ?=
WORKERS ?= 2
DOCKER_TIER := $(if $(filter 0,$(DOCKER)),--ignore=tests/docker,)
# A test module stays on one worker: its module-scoped fixtures start once.
XDIST := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)
# The whole suite builds the Docker tier's images while the other tiers run.
PREBUILD := $(if $(PYTEST_ARGS),0,1)

.PHONY: install run down status test pytest lint unit bench

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

# scripts/test-env.sh installs what the tests need where it may (root with
# apt-get: docker.io, debootstrap, docker-compose) and starts a dockerd for
# the run when none answers; else it says what to install, and fails. Lint
# runs inside it, so that the images' background build starts first.
test: install
	ORCHEST_TEST_DOCKER=$(DOCKER) ORCHEST_TEST_PREBUILD=$(PREBUILD) scripts/test-env.sh \
		$(MAKE) --no-print-directory lint pytest

# The tests alone, as make test runs them once the machine is ready.
pytest:
	$(UV) run pytest $(XDIST) $(DOCKER_TIER) $(PYTEST_ARGS)

unit: install
	$(UV) run pytest tests/unit

bench: install
	$(UV) run python -m bench
