"""The user services of a docker session (``services.py`` reads them): each
one a container of its ``image``, started once both servers answer.

The image must be on the engine (never pulled): a missing one is that
service's state, not a failed session; so is any other failure to create or
start its container. A service's container is like the session's others:
the host network, the adapter's unprivileged ``container_config`` (the
kernels' limits), run as the Jupyter server and kernels are (the project
directory's owner), and labelled with the session and the role
``service:<name>``, so a stop, a restart, the reconciliation and the orphan
sweep remove it with them.

Its ``entrypoint`` replaces the image's, its ``command`` and ``args`` the
image's command, each split as a shell would (``shlex``; no shell runs
them: Orchest's ``"entrypoint": "bash", "command": "-c '...'"`` does).
``binds`` mount the project directory (``/project-dir``) and the data
directory (``/data``) where the service names; the working directory is
the project's mount point when it has one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchest_service.docker import (
    DockerEngine,
    DockerFailure,
    DockerNotFound,
    Limits,
    Mount,
    container_config,
)

from .base import SessionSpec
from .services import ROLE_PREFIX, ServiceSpec

logger = logging.getLogger(__name__)

PROJECT_SOURCE = "/project-dir"
DATA_SOURCE = "/data"
"""The two sources a service's ``binds`` may name (Orchest's)."""


def service_mounts(service: ServiceSpec, project_dir: str, data_dir: Path) -> list[Mount]:
    """The service's ``binds``; a source other than the two is refused
    (``ValueError``): nothing else of the host is given."""
    sources = {PROJECT_SOURCE: Path(project_dir), DATA_SOURCE: data_dir}
    mounts = []
    for source, target in sorted(service.binds.items()):
        if source not in sources:
            raise ValueError(f"bind {source}: only {PROJECT_SOURCE} and {DATA_SOURCE} are bound")
        if not target.startswith("/"):
            raise ValueError(f"bind {source}: {target!r} is not an absolute path")
        mounts.append(Mount(sources[source], target, create=source == DATA_SOURCE))
    return mounts


def service_config(
    service: ServiceSpec,
    spec: SessionSpec,
    *,
    user: str,
    labels: dict[str, str],
    limits: Limits,
    data_dir: Path,
) -> dict[str, Any]:
    """The create body of the service's container; ``ValueError`` for a
    command that does not split or a bind that is refused."""
    mounts = service_mounts(service, spec.project_dir, data_dir)
    project_mount = service.binds.get(PROJECT_SOURCE)
    cmd = [*shlex.split(service.command or ""), *shlex.split(service.args or "")]
    env = {
        "HOME": "/tmp",  # the user may have no home in the image
        **spec.env,
        **service.env,
        **({"ORCHEST_PROJECT_DIR": project_mount} if project_mount else {}),
    }
    config = container_config(
        service.image,
        cmd,
        env=env,
        user=user,
        labels=labels,
        limits=limits,
        mounts=mounts,
        working_dir=project_mount,
    )
    if not cmd:
        del config["Cmd"]  # the image's
    if service.entrypoint:
        config["Entrypoint"] = shlex.split(service.entrypoint)
    return config


def container_name(service: ServiceSpec, spec: SessionSpec) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service.name) or "service"
    return f"orchest-service-{safe}-{spec.session_uuid}"


async def start_services(
    engine: DockerEngine,
    spec: SessionSpec,
    *,
    user: str,
    labels_of: Callable[[str], dict[str, str]],
    limits: Limits,
    data_dir: Path,
) -> list[dict[str, Any]]:
    """Start each service's container; what the session view lists of each
    (``name``, ``urls``, ``state``, and its container when it has one).
    ``labels_of(role)``: the session's labels for a container of ``role``."""
    started = []
    for service in spec.services:
        entry = await _start(engine, service, spec, user, labels_of, limits, data_dir)
        logger.info("session %s: service %s %s", spec.session_uuid, service.name, entry["state"])
        started.append({"name": service.name, "urls": service.urls, **entry})
    return started


async def _start(
    engine: DockerEngine,
    service: ServiceSpec,
    spec: SessionSpec,
    user: str,
    labels_of: Callable[[str], dict[str, str]],
    limits: Limits,
    data_dir: Path,
) -> dict[str, Any]:
    if not service.image:
        return {"state": "not started: no image"}
    try:
        config = service_config(
            service,
            spec,
            user=user,
            labels=labels_of(ROLE_PREFIX + service.name),
            limits=limits,
            data_dir=data_dir,
        )
    except ValueError as exc:
        return {"state": f"not started: {exc}"}
    try:
        await engine.inspect_image(service.image)
    except DockerNotFound:
        return {"state": f"not started: image {service.image} not found locally"}
    name = container_name(service, spec)
    try:
        if service.binds.get(DATA_SOURCE):
            await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        container = await engine.create(config, name)
        await engine.start(container)
        running = (await engine.inspect(container))["State"].get("Running")
    except (DockerFailure, OSError) as exc:  # a service's failure is not the session's
        logger.warning("session %s: service %s: %s", spec.session_uuid, service.name, exc)
        return {"state": f"not started: {exc}"}
    return {
        "state": "running" if running else "exited",
        "container": {"id": container, "name": name},
    }
