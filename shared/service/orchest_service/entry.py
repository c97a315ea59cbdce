"""What a service's ``__main__`` calls: settings, logging, one loop run
(uvloop's unless ``ORCHEST_EVENT_LOOP=asyncio``: ``loop.py``)."""

from __future__ import annotations

import logging

from .errors import DependencyUnavailable, MigrationError
from .logs import configure_logging
from .loop import run
from .service import ServiceDefinition, run_service
from .settings import ServiceSettings

logger = logging.getLogger(__name__)

EXIT_DEPENDENCY_UNAVAILABLE = 3
EXIT_MIGRATION_FAILED = 4


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
