"""What a service's ``__main__`` calls: settings, logging, one loop run (the
loop its settings name, ``ORCHEST_EVENT_LOOP``: ``loop.py``)."""

from __future__ import annotations

import json
import logging
import os
import sys

from .errors import DependencyUnavailable, MigrationError
from .logs import configure_logging
from .loop import run
from .service import ServiceDefinition, run_service
from .settings import ServiceSettings

logger = logging.getLogger(__name__)

EXIT_DEPENDENCY_UNAVAILABLE = 3
EXIT_MIGRATION_FAILED = 4

START_ENV = "ORCHEST_START_ENV"
"""``stdin``: the rest of the environment comes as one JSON line on stdin."""


def await_start_env() -> None:
    """With ``ORCHEST_START_ENV=stdin``, wait for the rest of the environment
    (where NATS and Postgres are, the NATS credentials) as one JSON object on
    stdin, and add it to ``os.environ``; to be called after the imports and
    before the settings are read. ``orchest up`` starts the services so, at
    the same time as NATS and Postgres: their imports (most of a service's
    start) overlap the servers' start. Stdin closed without a line: exit 0
    (the supervisor gave up before the servers were up)."""
    if os.environ.get(START_ENV) != "stdin":
        return
    line = sys.stdin.readline()
    if not line.strip():
        sys.exit(0)
    os.environ.update({str(k): str(v) for k, v in json.loads(line).items()})
    del os.environ[START_ENV]


def run_main(definition: ServiceDefinition, settings: ServiceSettings) -> int:
    """Run the service in this process; returns the exit code.

    A dependency that cannot be reached at start-up or a failed migration
    exits non-zero at once, and the supervisor (``orchest up``, compose)
    restarts the process with backoff.
    """
    configure_logging(settings.log_level, json_lines=settings.log_json, name=definition.name)
    try:
        run(run_service(definition, settings), settings.event_loop)
    except DependencyUnavailable as exc:
        logger.error("%s cannot start: %s", definition.name, exc)
        return EXIT_DEPENDENCY_UNAVAILABLE
    except MigrationError as exc:
        logger.error("%s cannot migrate: %s", definition.name, exc)
        return EXIT_MIGRATION_FAILED
    return 0
