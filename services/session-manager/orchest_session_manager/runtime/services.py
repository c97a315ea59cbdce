"""The user services of a session: the pipeline's ``services`` (Orchest's
format) whose ``scope`` has ``interactive`` start with its session and stop
with it (``docs/sessions.md``, "User services").

What to start is read here from the pipeline file, once per launch; each
runtime starts them its own way (the process runtime: the service's command
line as a process of the session; the docker runtime: a container of its
``image``, ``docker_services.py``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from orchest_schemas.pipeline import PipelineDefinition, PipelineService

logger = logging.getLogger(__name__)

INTERACTIVE = "interactive"
HOST = "127.0.0.1"
ROLE_PREFIX = "service:"
"""A service's role among a session's processes: ``service:<name>``."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service to start with a session."""

    name: str
    image: str
    command_line: str
    """``entrypoint``, ``command`` and ``args``, in that order, as one shell line."""
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    entrypoint: str | None = None
    command: str | None = None
    args: str | None = None
    """The three parts of ``command_line``, apart (a container's ``Entrypoint``
    and ``Cmd``)."""
    binds: dict[str, str] = field(default_factory=dict)
    """``/project-dir`` or ``/data`` -> where the container sees it (Orchest's)."""

    @property
    def urls(self) -> list[str]:
        return [f"http://{HOST}:{port}/" for port in self.ports]


def interactive_services(
    project_dir: str, pipeline_path: str, inherited: dict[str, str]
) -> list[ServiceSpec]:
    """The pipeline's interactive services, by ``order`` then name; each
    one's environment is its ``env_variables_inherit`` taken from
    ``inherited`` (the session's variables), then its ``env_variables``.
    A pipeline file that cannot be read has none (its problems are the
    editor's to show, not a reason to refuse the session). Blocking."""
    path = Path(project_dir) / pipeline_path
    try:
        definition = PipelineDefinition.model_validate(json.loads(path.read_bytes()))
    except (OSError, ValueError, ValidationError) as exc:
        logger.info("%s: no services read (%s)", path, type(exc).__name__)
        return []
    chosen = [
        (key, service)
        for key, service in definition.services.items()
        if INTERACTIVE in service.scope
    ]
    chosen.sort(key=lambda item: (item[1].order is None, item[1].order or 0, item[0]))
    return [_spec(key, service, inherited) for key, service in chosen]


def _spec(key: str, service: PipelineService, inherited: dict[str, str]) -> ServiceSpec:
    env = {name: inherited[name] for name in service.env_variables_inherit if name in inherited}
    parts = (service.entrypoint, service.command, service.args)
    return ServiceSpec(
        name=service.name or key,
        image=service.image,
        command_line=" ".join(part for part in parts if part),
        env={**env, **service.env_variables},
        ports=tuple(service.ports),
        entrypoint=service.entrypoint,
        command=service.command,
        args=service.args,
        binds=dict(service.binds),
    )
