"""Sessions as containers: Enterprise Gateway (EG) and a Jupyter server, each
a container, and every kernel a container of its own that EG starts through
the Docker engine (its ``DockerProcessProxy``, from the kernelspecs of
``kernels/docker/``). The engine is reached through aiodocker only.

Addresses stay on loopback. Every container uses the host network, so there
is no container address: each server listens on ``127.0.0.1`` on a port
chosen free here, and is told so (``--ip``, ``--port``). EG binds the socket
on which kernels report their ports to ``127.0.0.1`` and tells kernels that
address (``EG_RESPONSE_IP``; by default it would take the host's first
non-loopback address). The process proxy (``orchest_eg.HostNetworkDockerProcessProxy``)
connects to a kernel on ``127.0.0.1`` (Docker gives a host-network container
no address), and the kernel listens and reports only there (the kernelspec's
``start_kernel.py``). The Jupyter server reaches EG at ``http://127.0.0.1``.

Every container is labelled ``orchest.owner=<owner>``,
``orchest.session=<owner>:<session uuid>`` and ``orchest.role`` (the kernels
too: their launcher copies the session's labels), which is how a runtime
started after a restart of the session manager finds them (``owned``) and
how ``stop`` leaves none. The owner keeps the sessions of two stacks on one
Docker engine apart.

Unprivileged: no container is privileged; each has every capability dropped
and ``no-new-privileges``, and memory, CPU and process limits. The Jupyter
server and kernels run as the project directory's owner (or the configured
user), so that what they write in the project is that user's. EG runs as
this process's user, with the Docker socket mounted (and the socket's group),
since it starts the kernels' containers: whoever controls EG controls the
engine, which is root on the host. EG is reached only on loopback, with its
own token, by the session's Jupyter server; kernels never get the socket.

A session's directory (mode 0700, removed by ``stop``) holds only its
kernelspecs, mounted read-only into EG at ``/usr/local/share/jupyter/kernels``:
``<sessions dir>/<session uuid>/kernels/<name>/``. Logs are the containers'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError

from orchest_runtime.errors import DependencyUnavailable

from .base import LaunchFailed, Owned, SessionEndpoints, SessionSpec
from .environments import ENTERPRISE_GATEWAY, JUPYTER_SERVER
from .kernelspecs import KERNELS_DIR, write_kernelspecs
from .readiness import Probe, wait_ready

logger = logging.getLogger(__name__)

KERNEL = "kernel"
OWNER_LABEL = "orchest.owner"
SESSION_LABEL = "orchest.session"
"""``<owner>:<session uuid>``."""
ROLE_LABEL = "orchest.role"
PROJECT_LABEL = "orchest.project"
PIPELINE_LABEL = "orchest.pipeline"

HOST = "127.0.0.1"
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
PROJECT_MOUNT = "/project-dir"
KERNELS_MOUNT = "/usr/local/share/jupyter/kernels"
SOCKET_MOUNT = "/var/run/docker.sock"

API_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=10.0)
"""Of one engine request (those that wait on containers, like a stop, have no total)."""
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 15
_UNREACHABLE = 900
"""aiodocker's status for an engine it cannot connect to."""


class DockerUnavailable(DependencyUnavailable):
    """The Docker engine does not answer (transient: the health watch waits)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one container (``None``: none)."""

    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = None

    @property
    def nano_cpus(self) -> int | None:
        return None if self.cpus is None else round(self.cpus * 1e9)

    def host_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.memory_bytes is not None:
            config["Memory"] = self.memory_bytes
        if self.nano_cpus is not None:
            config["NanoCpus"] = self.nano_cpus
        if self.pids is not None:
            config["PidsLimit"] = self.pids
        return config


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
class _Plan:
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


@dataclass(frozen=True)
class _Server:
    """One of a session's two servers while it launches."""

    role: str
    container: DockerContainer
    ready_url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Found:
    """A container of this owner, as the engine lists it."""

    id: str
    name: str
    session_uuid: str
    role: str
    state: str
    image: str

    @property
    def running(self) -> bool:
        return self.state == "running"


class DockerRuntime:
    """Runs sessions as containers on one Docker engine."""

    name = "docker"

    def __init__(
        self,
        sessions_dir: Path,
        *,
        owner: str,
        docker_url: str | None = None,
        images: DockerImages | None = None,
        user: str | None = None,
        server_limits: Limits | None = None,
        kernel_limits: Limits | None = None,
        kernel_templates: Path = KERNELS_DIR / "docker",
        launch_timeout: float = 60.0,
        stop_grace_seconds: float = 5.0,
    ) -> None:
        """``owner``: names this runtime's containers among the engine's.
        ``user``: ``uid:gid`` of the Jupyter server and kernels (default: the
        project directory's owner)."""
        self.sessions_dir = sessions_dir
        self.owner = owner
        self.docker_url = docker_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL
        self.images = images or DockerImages()
        self.user = user
        self.server_limits = server_limits or Limits(1024**3, 1.0, 1024)
        self.kernel_limits = kernel_limits or Limits(4 * 1024**3, 2.0, 1024)
        self.kernel_templates = kernel_templates
        self.launch_timeout = launch_timeout
        self.stop_grace_seconds = stop_grace_seconds

    def session_dir(self, session_uuid: str) -> Path:
        return self.sessions_dir / session_uuid

    def session_label(self, session_uuid: str) -> str:
        return f"{self.owner}:{session_uuid}"

    async def version(self) -> str:
        """The engine's version; raises ``DockerUnavailable`` when it does not answer."""
        async with self._docker() as docker:
            version: dict[str, Any] = await docker.version()
        return str(version.get("Version", "?"))

    # -- the port --------------------------------------------------------------------

    async def launch(self, spec: SessionSpec) -> SessionEndpoints:
        started = time.monotonic()
        try:
            running = await self._list(session_uuid=spec.session_uuid)
        except DockerUnavailable as exc:
            raise LaunchFailed(str(exc)) from exc
        if running:
            raise LaunchFailed(f"session {spec.session_uuid} is running already")
        try:
            return await self._launch(spec, started)
        except BaseException as exc:
            try:
                await asyncio.shield(self.stop(spec.session_uuid))
            except (DockerError, DependencyUnavailable, TimeoutError) as failed:
                logger.warning("session %s: not all removed: %s", spec.session_uuid, failed)
            if isinstance(exc, LaunchFailed | asyncio.CancelledError | KeyboardInterrupt):
                raise
            if isinstance(exc, DockerError | DockerUnavailable):
                raise LaunchFailed(f"Docker: {_message(exc)}") from exc
            logger.exception("session %s: launch failed", spec.session_uuid)
            raise LaunchFailed(f"{type(exc).__name__}: {exc}") from exc

    async def stop(self, session_uuid: str) -> None:
        grace = max(0, math.ceil(self.stop_grace_seconds))
        for _ in range(3):  # again if something started while the first ones ended
            found = await self._list(session_uuid=session_uuid)
            if not found:
                break
            # The Jupyter server first: it ends its kernels through EG. Without
            # a running EG it would wait for it: then it is killed.
            jupyter = [c for c in found if c.role == JUPYTER_SERVER]
            gateway_up = any(c.role == ENTERPRISE_GATEWAY and c.running for c in found)
            await self._end(jupyter, grace if gateway_up else 0)
            await self._end([c for c in found if c.role != JUPYTER_SERVER], grace)
        await asyncio.to_thread(shutil.rmtree, self.session_dir(session_uuid), ignore_errors=True)

    async def alive(self, session_uuid: str) -> bool:
        roles = {c.role for c in await self._list(session_uuid=session_uuid) if c.running}
        return {ENTERPRISE_GATEWAY, JUPYTER_SERVER} <= roles

    async def owned(self) -> list[Owned]:
        return [
            Owned(
                session_uuid=c.session_uuid,
                role=c.role,
                ref=c.id,
                details={"id": c.id, "name": c.name, "state": c.state, "image": c.image},
            )
            for c in await self._list()
        ]

    # -- launch ------------------------------------------------------------------------

    async def _launch(self, spec: SessionSpec, started: float) -> SessionEndpoints:
        async with self._docker() as docker:
            await self._check_images(docker)
            plan = await asyncio.to_thread(self._prepare, spec)
            gateway, jupyter = await asyncio.gather(
                self._start(docker, ENTERPRISE_GATEWAY, spec, self._gateway_config(plan)),
                self._start(docker, JUPYTER_SERVER, spec, self._jupyter_config(plan)),
            )
            servers = [
                _Server(
                    ENTERPRISE_GATEWAY,
                    gateway,
                    f"{plan.gateway_url}/api/kernelspecs",
                    {"Authorization": f"token {plan.gateway_token}"},
                ),
                _Server(
                    JUPYTER_SERVER,
                    jupyter,
                    # Answered through EG: ready means connected to it.
                    f"{plan.jupyter_url}api/kernelspecs",
                    {"Authorization": f"token {plan.jupyter_token}"},
                ),
            ]
            await _wait_ready(servers, self.launch_timeout)
        ready_seconds = time.monotonic() - started
        logger.info("session %s ready in %.2fs", spec.session_uuid, ready_seconds)
        return SessionEndpoints(
            jupyter_url=plan.jupyter_url,
            jupyter_token=plan.jupyter_token,
            gateway_url=plan.gateway_url,
            details={
                "session_dir": str(self.session_dir(spec.session_uuid)),
                "gateway_token": plan.gateway_token,
                "kernels": plan.kernels,
                "kernel_image": self.images.kernel,
                "user": plan.user,
                "containers": {
                    server.role: {"id": server.container.id, "name": _name(server.role, spec)}
                    for server in servers
                },
                "ready_seconds": round(ready_seconds, 3),
            },
        )

    async def _check_images(self, docker: aiodocker.Docker) -> None:
        """Images are built here (``images/build.sh``), never pulled."""
        images = self.images
        wanted = [images.enterprise_gateway, images.jupyter_server, *images.kernels().values()]
        for image in dict.fromkeys(wanted):
            try:
                await docker.images.inspect(image)
            except DockerError as exc:
                if exc.status == 404:
                    raise LaunchFailed(
                        f"image {image} is not on the Docker engine (images/build.sh builds it)"
                    ) from exc
                raise

    def _prepare(self, spec: SessionSpec) -> _Plan:
        """The session directory with its kernelspecs, ports, tokens. Blocking."""
        root = self.session_dir(spec.session_uuid)
        shutil.rmtree(root, ignore_errors=True)  # what a crashed launch left
        root.mkdir(parents=True, mode=0o700)
        kernels_dir = root / "kernels"
        kernels_dir.mkdir(mode=0o700)
        user = self.user or _owner_of(spec.project_dir)
        limits = self.kernel_limits
        kernels = []
        for name, image in self.images.kernels().items():
            container = {
                "image": image,
                "user": user,
                "project_dir": spec.project_dir,
                "labels": self._labels(spec, KERNEL),
                "env": spec.env,
                "memory_bytes": limits.memory_bytes,
                "nano_cpus": limits.nano_cpus,
                "pids_limit": limits.pids,
            }
            kernels += write_kernelspecs(
                self.kernel_templates,
                kernels_dir,
                {"IMAGE": image, "CONTAINER": json.dumps(container)},
                rename={"python3": name},
            )
        gateway_port, response_port, jupyter_port = _free_ports(3)
        return _Plan(
            spec=spec,
            kernels_dir=kernels_dir,
            kernels=kernels,
            gateway_port=gateway_port,
            response_port=response_port,
            jupyter_port=jupyter_port,
            gateway_token=secrets.token_hex(24),
            jupyter_token=secrets.token_hex(24),
            user=user,
        )

    def _labels(self, spec: SessionSpec, role: str) -> dict[str, str]:
        return {
            OWNER_LABEL: self.owner,
            SESSION_LABEL: self.session_label(spec.session_uuid),
            ROLE_LABEL: role,
            PROJECT_LABEL: spec.project_uuid,
            PIPELINE_LABEL: spec.pipeline_uuid,
        }

    def _host_config(self, limits: Limits, mounts: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "NetworkMode": "host",
            "Init": True,  # signals reach the server; its children are reaped
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Mounts": mounts,
            **limits.host_config(),
        }

    def _gateway_config(self, plan: _Plan) -> dict[str, Any]:
        host_config = self._host_config(
            self.server_limits,
            [_bind(plan.kernels_dir, KERNELS_MOUNT, read_only=True)],
        )
        env = {
            "EG_AUTH_TOKEN": plan.gateway_token,
            # Kernels report their ports to 127.0.0.1:<port>, bound there.
            "EG_RESPONSE_IP": HOST,
            "EG_RESPONSE_PORT": str(plan.response_port),
            "EG_LIST_KERNELS": "True",
            # The notebook's folder reaches the kernel launcher (which keeps it
            # inside the project).
            "EG_MIRROR_WORKING_DIRS": "True",
            # What EG passes to the kernel launcher of its own environment
            # (the launcher reaches the engine as EG does).
            "EG_INHERITED_ENVS": "PATH,DOCKER_HOST",
            "HOME": "/tmp",
        }
        socket_path = _unix_socket(self.docker_url)
        if socket_path is not None:
            host_config["Mounts"].append(_bind(Path(socket_path), SOCKET_MOUNT))
            host_config["GroupAdd"] = [str(os.stat(socket_path).st_gid)]
            env["DOCKER_HOST"] = f"unix://{SOCKET_MOUNT}"
        else:
            env["DOCKER_HOST"] = self.docker_url
        return {
            "Image": self.images.enterprise_gateway,
            "Cmd": [
                "jupyter",
                "enterprisegateway",
                f"--EnterpriseGatewayApp.ip={HOST}",
                f"--EnterpriseGatewayApp.port={plan.gateway_port}",
                "--EnterpriseGatewayApp.port_retries=0",
                "--KernelSpecManager.ensure_native_kernel=False",
                *(f"--KernelSpecManager.whitelist={name}" for name in plan.kernels),
            ],
            "Env": _env_list(env),
            "User": f"{os.getuid()}:{os.getgid()}",
            "Labels": self._labels(plan.spec, ENTERPRISE_GATEWAY),
            "HostConfig": host_config,
        }

    def _jupyter_config(self, plan: _Plan) -> dict[str, Any]:
        env = {
            "JUPYTER_TOKEN": plan.jupyter_token,
            "JUPYTER_GATEWAY_URL": plan.gateway_url,
            "JUPYTER_GATEWAY_AUTH_TOKEN": plan.gateway_token,
            "HOME": "/tmp",  # the user may have no home in the image
        }
        return {
            "Image": self.images.jupyter_server,
            "Cmd": [
                "jupyter",
                "server",
                f"--ServerApp.ip={HOST}",
                f"--ServerApp.port={plan.jupyter_port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={PROJECT_MOUNT}",
                "--ServerApp.open_browser=False",
            ],
            "Env": _env_list(env),
            "User": plan.user,
            "WorkingDir": PROJECT_MOUNT,
            "Labels": self._labels(plan.spec, JUPYTER_SERVER),
            "HostConfig": self._host_config(
                self.server_limits, [_bind(Path(plan.spec.project_dir), PROJECT_MOUNT)]
            ),
        }

    async def _start(
        self, docker: aiodocker.Docker, role: str, spec: SessionSpec, config: dict[str, Any]
    ) -> DockerContainer:
        try:
            container = await docker.containers.create(config, name=_name(role, spec))
        except DockerError as exc:
            raise LaunchFailed(f"{role}: container not created: {exc.message}") from exc
        try:
            await container.start()
        except DockerError as exc:
            raise LaunchFailed(f"{role}: container not started: {exc.message}") from exc
        return container

    # -- finding and ending containers ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def _docker(self) -> AsyncIterator[aiodocker.Docker]:
        """A client for one operation (cheap: a Unix socket; never bound to a
        loop that ended). An engine that does not answer is ``DockerUnavailable``."""
        docker = aiodocker.Docker(url=self.docker_url, timeout=API_TIMEOUT)
        try:
            yield docker
        except DockerError as exc:
            if exc.status == _UNREACHABLE:
                raise DockerUnavailable(exc.message) from exc
            raise
        finally:
            await docker.close()

    async def _list(self, *, session_uuid: str | None = None) -> list[_Found]:
        """This owner's containers (of one session), whatever their state."""
        label = (
            f"{OWNER_LABEL}={self.owner}"
            if session_uuid is None
            else f"{SESSION_LABEL}={self.session_label(session_uuid)}"
        )
        async with self._docker() as docker:
            listed = await docker.containers.list(all=True, filters={"label": [label]})
        prefix = f"{self.owner}:"
        found = []
        for container in listed:
            labels: dict[str, str] = container["Labels"] or {}
            session = labels.get(SESSION_LABEL, "")
            if not session.startswith(prefix):
                continue
            names: list[str] = container["Names"] or []
            found.append(
                _Found(
                    id=container.id,
                    name=names[0].lstrip("/") if names else "",
                    session_uuid=session[len(prefix) :],
                    role=labels.get(ROLE_LABEL, ""),
                    state=str(container["State"]),
                    image=str(container["Image"]),
                )
            )
        return found

    async def _end(self, containers: Iterable[_Found], grace: int) -> None:
        """Stop (SIGTERM, ``grace`` seconds, SIGKILL) and remove, all at once."""
        containers = list(containers)
        if not containers:
            return
        async with self._docker() as docker:
            await asyncio.gather(*(_stop_and_remove(docker, c, grace) for c in containers))


async def _stop_and_remove(docker: aiodocker.Docker, found: _Found, grace: int) -> None:
    container = docker.containers.container(found.id)
    if found.running:
        try:
            await container.stop(t=grace)
        except DockerError as exc:
            if exc.status not in (304, 404):  # stopped or gone meanwhile
                raise
    try:
        await container.delete(force=True, v=True)
    except DockerError as exc:
        # Gone, or being removed by the engine (kernels remove themselves).
        if exc.status not in (404, 409):
            raise


async def _wait_ready(servers: list[_Server], timeout: float) -> None:
    """Wait for both servers (``readiness.wait_ready``); a container that stops fails it."""

    def probe(server: _Server) -> Probe:
        async def exited() -> str | None:
            state = (await server.container.show())["State"]
            return None if state.get("Running") else f"exited (code {state.get('ExitCode')})"

        async def tail() -> str:
            return await _tail(server.container)

        return Probe(server.role, server.ready_url, server.headers, exited, tail)

    await wait_ready([probe(s) for s in servers], timeout, POLL_SECONDS)


async def _tail(container: DockerContainer, lines: int = LOG_TAIL_LINES) -> str:
    try:
        logs: list[str] = await container.log(stdout=True, stderr=True, tail=lines)
    except DockerError as exc:
        return f"(no log: {exc.message})"
    return "".join(logs).rstrip("\n") or "(empty log)"


def _name(role: str, spec: SessionSpec) -> str:
    return f"orchest-{role}-{spec.session_uuid}"


def _bind(source: Path, target: str, *, read_only: bool = False) -> dict[str, Any]:
    return {"Type": "bind", "Source": str(source), "Target": target, "ReadOnly": read_only}


def _env_list(env: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in env.items()]


def _unix_socket(url: str) -> str | None:
    return url.removeprefix("unix://") if url.startswith("unix://") else None


def _owner_of(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LaunchFailed(f"project directory {path}: {exc.strerror}") from exc
    return f"{info.st_uid}:{info.st_gid}"


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, DockerError) else str(exc)


def _free_ports(count: int) -> list[int]:
    """Ports free on the loopback now (held together, so distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
