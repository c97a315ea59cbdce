"""What a runtime answers once a session's two servers are ready."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Protocol

from .base import SessionEndpoints, SessionSpec

logger = logging.getLogger(__name__)


class LaunchPlan(Protocol):
    """What every runtime's plan of a session knows of its two servers."""

    @property
    def gateway_url(self) -> str: ...
    @property
    def gateway_token(self) -> str: ...
    @property
    def jupyter_url(self) -> str: ...
    @property
    def jupyter_token(self) -> str: ...
    @property
    def kernels(self) -> list[str]: ...


def ready_endpoints(
    spec: SessionSpec,
    plan: LaunchPlan,
    *,
    session_dir: Path,
    started: float,
    services: list[dict[str, Any]],
    details: dict[str, Any],
) -> SessionEndpoints:
    """A launched session's endpoints (logged with the time it took since
    ``started``, a ``time.monotonic()``); ``details``: the runtime's own."""
    ready_seconds = time.monotonic() - started
    logger.info("session %s ready in %.2fs", spec.session_uuid, ready_seconds)
    return SessionEndpoints(
        jupyter_url=plan.jupyter_url,
        jupyter_token=plan.jupyter_token,
        gateway_url=plan.gateway_url,
        details={
            "session_dir": str(session_dir),
            "gateway_token": plan.gateway_token,
            "kernels": plan.kernels,
            **details,
            "ready_seconds": round(ready_seconds, 3),
            **({"services": services} if services else {}),
        },
    )
