"""A docker session's containers on the engine: their images and labels, the
plan of a launch (ports, tokens), finding them, starting a server, waiting
for the servers to answer, and ending them. Every request goes through the
shared adapter (``orchest_service.docker``), each with its timeout.

Every container is labelled ``orchest.owner=<owner>``,
``orchest.session=<owner>:<session uuid>`` and ``orchest.role`` (the kernels
too: their launcher copies the session's labels), which is how a runtime
started after a restart of the session manager finds them and how a stop
leaves none. The owner keeps the sessions of two stacks on one Docker engine
apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchest_service.docker import DockerEngine, DockerFailure, DockerNotFound, label_filter

from .base import LaunchFailed, SessionSpec
from .readiness import Probe, wait_ready
from .venvs import ENTERPRISE_GATEWAY, JUPYTER_SERVER

KERNEL = "kernel"
OWNER_LABEL = "orchest.owner"
SESSION_LABEL = "orchest.session"
"""``<owner>:<session uuid>``."""
ROLE_LABEL = "orchest.role"
PROJECT_LABEL = "orchest.project"
PIPELINE_LABEL = "orchest.pipeline"

HOST = "127.0.0.1"
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class DockerImages:
    enterprise_gateway: str = "orchest/enterprise-gateway:latest"
    jupyter_server: str = "orchest/jupyter-server:latest"
    kernel: str = "orchest/kernel-python:latest"
    """The image of the ``python3`` kernel (steps with no environment)."""
    environments: Mapping[str, str] = field(default_factory=dict)
    """Environment uuid -> image: each gets a kernel ``orchest-kernel-<uuid>``,
    as Orchest named the kernels of its environments."""

    def kernels(self) -> dict[str, str]:
        """Kernel name -> image, for every kernel a session offers."""
        return {
            "python3": self.kernel,
            **{f"orchest-kernel-{env}": image for env, image in self.environments.items()},
        }


@dataclass(frozen=True)
class Plan:
    """A session about to be started: its kernelspecs, addresses, tokens, users."""

    spec: SessionSpec
    kernels_dir: Path
    kernels: list[str]
    gateway_port: int
    response_port: int
    jupyter_port: int
    gateway_token: str
    jupyter_token: str
    user: str

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"

    @property
    def jupyter_url(self) -> str:
        return f"http://{HOST}:{self.jupyter_port}/"


async def check_images(engine: DockerEngine, images: DockerImages) -> None:
    """Images are built here (``images/build.sh``), never pulled."""
    wanted = [images.enterprise_gateway, images.jupyter_server, *images.kernels().values()]
    for image in dict.fromkeys(wanted):
        try:
            await engine.inspect_image(image)
        except DockerNotFound as exc:
            raise LaunchFailed(
                f"image {image} is not on the Docker engine (images/build.sh builds it)"
            ) from exc


@dataclass(frozen=True)
class Server:
    """One of a session's two servers while it launches."""

    role: str
    container: str
    """Its id."""
    ready_url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Found:
    """A container of a session, as the engine lists it."""

    id: str
    name: str
    session_uuid: str
    role: str
    state: str
    image: str

    @property
    def running(self) -> bool:
        return self.state == "running"


async def list_owned(engine: DockerEngine, owner: str, session: str | None) -> list[Found]:
    """The containers of ``owner`` (of the session labelled ``session``), any state."""
    label = (
        label_filter(OWNER_LABEL, owner)
        if session is None
        else label_filter(SESSION_LABEL, session)
    )
    prefix = f"{owner}:"
    found = []
    for container in await engine.list(label):
        labels: dict[str, str] = container["Labels"] or {}
        of_session = labels.get(SESSION_LABEL, "")
        if not of_session.startswith(prefix):
            continue
        names: list[str] = container["Names"] or []
        found.append(
            Found(
                id=container["Id"],
                name=names[0].lstrip("/") if names else "",
                session_uuid=of_session[len(prefix) :],
                role=labels.get(ROLE_LABEL, ""),
                state=str(container["State"]),
                image=str(container["Image"]),
            )
        )
    return found


def labels_of(owner: str, spec: SessionSpec, role: str) -> dict[str, str]:
    """The labels of the session's container of ``role``."""
    return {
        OWNER_LABEL: owner,
        SESSION_LABEL: f"{owner}:{spec.session_uuid}",
        ROLE_LABEL: role,
        PROJECT_LABEL: spec.project_uuid,
        PIPELINE_LABEL: spec.pipeline_uuid,
    }


async def end_session(engine: DockerEngine, found: list[Found], grace: float) -> None:
    """Stop (SIGTERM, ``grace`` seconds, SIGKILL) and remove a session's
    containers: the Jupyter server first, since it ends its kernels through
    EG (without a running EG it would wait for it: then it is killed)."""
    jupyter = [c for c in found if c.role == JUPYTER_SERVER]
    gateway_up = any(c.role == ENTERPRISE_GATEWAY and c.running for c in found)
    await _end_all(engine, jupyter, grace if gateway_up else 0)
    await _end_all(engine, [c for c in found if c.role != JUPYTER_SERVER], grace)


async def _end_all(engine: DockerEngine, containers: Iterable[Found], grace: float) -> None:
    await asyncio.gather(*(_stop_and_remove(engine, c, grace) for c in containers))


async def start_server(
    engine: DockerEngine, role: str, name: str, config: dict[str, Any], ready_url: str, token: str
) -> Server:
    """Create and start one server's container, ready once ``ready_url``
    answers 200 to ``token``."""
    try:
        container = await engine.create(config, name)
        await engine.start(container)
    except DockerFailure as exc:
        raise LaunchFailed(f"{role}: {exc}") from exc
    return Server(role, container, ready_url, {"Authorization": f"token {token}"})


async def _stop_and_remove(engine: DockerEngine, found: Found, grace: float) -> None:
    if found.running:
        await engine.stop(found.id, grace)
    # Gone, or being removed by the engine (kernels remove themselves), is fine.
    await engine.remove(found.id)


async def wait_servers_ready(engine: DockerEngine, servers: list[Server], timeout: float) -> None:
    """Wait for both servers (``readiness.wait_ready``); a container that stops fails it."""

    def probe(server: Server) -> Probe:
        async def exited() -> str | None:
            state = (await engine.inspect(server.container))["State"]
            return None if state.get("Running") else f"exited (code {state.get('ExitCode')})"

        async def tail() -> str:
            try:
                logs = await engine.logs_tail(server.container, LOG_TAIL_LINES)
            except DockerFailure as exc:
                return f"(no log: {exc.message})"
            return logs.rstrip("\n") or "(empty log)"

        return Probe(server.role, server.ready_url, server.headers, exited, tail)

    await wait_ready([probe(s) for s in servers], timeout, POLL_SECONDS)


def owner_of(path: str) -> str:
    """``uid:gid`` of ``path``."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LaunchFailed(f"project directory {path}: {exc.strerror}") from exc
    return f"{info.st_uid}:{info.st_gid}"


def free_ports(count: int) -> list[int]:
    """Ports free on the loopback now (held together, so distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
