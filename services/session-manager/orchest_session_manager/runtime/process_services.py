"""A process session's user services (``services.py`` reads them): each a
detached process of the session, marked as its servers are
(``session_processes.py``), so stopped, found and reconciled with them."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from orchest_schemas.session_marks import MARKER_VARIABLE, ROLE_VARIABLE
from orchest_service.childenv import child_environment

from .base import LaunchFailed, SessionSpec
from .services import ROLE_PREFIX
from .session_processes import detach, is_gone

logger = logging.getLogger(__name__)


async def start_services(owner: str, spec: SessionSpec, root: Path) -> list[dict[str, Any]]:
    """Each interactive service's command line (``sh -c``), a detached
    process of the session in the project folder, marked as its servers
    are (so stopped, found and reconciled with them), with the allow-list
    of the environment, the service's variables and the contract's."""
    started: list[dict[str, Any]] = []
    for service in spec.services:
        entry: dict[str, Any] = {"name": service.name, "urls": service.urls}
        if not service.command_line:
            started.append({**entry, "state": "not started: no command"})
            continue
        role = ROLE_PREFIX + service.name
        log = root / "logs" / f"service-{_file_name(service.name)}.log"
        env = child_environment(
            os.environ,
            variables={**spec.env, **service.env},
            contract={
                "ORCHEST_PROJECT_DIR": spec.project_dir,
                MARKER_VARIABLE: f"{owner}:{spec.session_uuid}",
            },
        )
        argv = ["/bin/sh", "-c", service.command_line]
        try:
            process = await detach(role, argv, {**env, ROLE_VARIABLE: role}, log, spec.project_dir)
        except LaunchFailed as exc:  # a service's failure is not the session's
            logger.warning("session %s: %s", spec.session_uuid, exc.reason)
            started.append({**entry, "state": "exited", "log": str(log)})
            continue
        state = "exited" if is_gone(process) else "running"
        started.append(
            {
                **entry,
                "state": state,
                "pid": process.pid,
                "create_time": process.create_time(),
                "log": str(log),
            }
        )
        logger.info("session %s: service %s %s", spec.session_uuid, service.name, state)
    return started


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "service"
