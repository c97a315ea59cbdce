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
# make test WORKERS=0 runs the tests in one process (default: 4, pytest-xdist);
# make test JUNIT=FILE writes pytest's JUnit XML report to FILE, from which
# scripts/test-weights.py FILE updates tests/module_weights.json.
DOCKER ?= 1
PYTEST_ARGS ?=
WORKERS ?= 4
JUNIT ?=
DOCKER_TIER := $(if $(filter 0,$(DOCKER)),--ignore=tests/docker,)
# A test module stays on one worker: its module-scoped fixtures start once.
# The modules go out in the order collected (the Docker tier last, the
# heaviest modules first within each tier, see tests/conftest.py), not
# xdist's default of the most tests first, which started the Docker tier's
# big modules at once, to wait for their images.
XDIST := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile --no-loadscope-reorder)
# The whole suite builds the Docker tier's images while the other tiers run.
PREBUILD := $(if $(PYTEST_ARGS),0,1)

# The web dashboard (ui/): npm ci when package-lock.json changed, npm run
# build when anything of ui/ changed (the stamp ui/.build-stamp); the gateway
# serves ui/dist at /. Without npm it says so, and the gateway's / says the
# dashboard is not built (the API works).
UI_SOURCES := $(shell find ui -path ui/node_modules -prune -o -path ui/dist -prune \
	-o -path ui/e2e -prune -o -type f ! -name .build-stamp -print 2>/dev/null)

.PHONY: install ui run down status test pytest lint unit bench

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@$(MAKE) --no-print-directory ui

ui:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory ui/.build-stamp; \
	else echo "make: npm not found: the dashboard (ui/) is not built; install Node 20+ and npm"; fi

ui/node_modules/.package-lock.json: ui/package-lock.json ui/package.json
	cd ui && npm ci --no-audit --no-fund

ui/.build-stamp: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && npm run build
	@touch $@

run: install
	$(UV) run orchest up $(STATE_ARG) --port $(PORT)
	@# The quickstart as a project of the stack (a copy of examples/quickstart:
	@# runs write executed notebooks back into their project, not into the repository).
	@$(UV) run orchest projects show quickstart $(STATE_ARG) >/dev/null 2>&1 \
		|| $(UV) run orchest projects create quickstart --template quickstart $(STATE_ARG)
	@$(UV) run orchest run quickstart/quickstart.orchest $(STATE_ARG); status=$$?; \
		echo; \
		echo "Dashboard: http://127.0.0.1:$(PORT)/  (open it in a browser; make down stops the stack)"; \
		exit $$status

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

# The tests alone, as make test runs them once the machine is ready; the
# 25 slowest are listed at the end (where the suite's time goes).
pytest:
	$(UV) run pytest $(XDIST) $(DOCKER_TIER) --durations=25 $(if $(JUNIT),--junitxml=$(JUNIT),) $(PYTEST_ARGS)

unit: install
	$(UV) run pytest tests/unit

# The bench's own dependency group (Celery, py-spy) and Debian's redis-server
# for figure 1's Celery baseline, installed where this may (root with
# apt-get); without it, figure 1 says so and skips the baseline.
bench: install
	$(UV) sync --frozen --group bench
	@command -v redis-server >/dev/null 2>&1 \
		|| { [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
			&& apt-get install -y --no-install-recommends redis-server >/dev/null; } \
		|| echo "make bench: redis-server not found (apt-get install redis-server): figure 1 skips its Celery baseline"
	$(UV) run --frozen --group bench python -m bench
