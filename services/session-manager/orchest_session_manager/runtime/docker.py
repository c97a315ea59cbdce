"""Sessions as containers: Enterprise Gateway (EG) and a Jupyter server, each
a container, and every kernel a container of its own that EG starts through
the Docker engine (its ``DockerProcessProxy``, from the kernelspecs of
``kernels/docker/``). The engine is reached through the shared Docker adapter
(``orchest_service.docker``): every request has a timeout, and an engine that
does not answer fails the launch with that cause.

Addresses stay on loopback. Every container uses the host network, so there
is no container address: each server listens on ``127.0.0.1`` on a port
chosen free here, and is told so (``--ip``, ``--port``). EG binds the socket
on which kernels report their ports to ``127.0.0.1`` and tells kernels that
address (``EG_RESPONSE_IP``; by default it would take the host's first
non-loopback address). The process proxy (``orchest_eg.HostNetworkDockerProcessProxy``)
connects to a kernel on ``127.0.0.1`` (Docker gives a host-network container
no address), and the kernel listens and reports only there (the kernelspec's
``start_kernel.py``). The Jupyter server reaches EG at ``http://127.0.0.1``.

Containers are labelled with their owner, session and role
(``docker_containers``): how ``owned`` finds them after a restart and how
``stop`` leaves none. The pipeline's interactive services are containers of
the session too, started once both servers answer (``docker_services``).

Unprivileged: the adapter's ``container_config`` (never privileged, no
capability, ``no-new-privileges``, memory, CPU and process limits, no Docker
socket unless named). The Jupyter server and kernels run as the project
directory's owner (or the configured user): what they write is that user's. EG runs as
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
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from orchest_service.docker import (
    SOCKET_MOUNT,
    DockerEngine,
    DockerFailure,
    DockerTimeouts,
    Limits,
    Mount,
    container_config,
    engine_url,
    unix_socket,
)

from .base import LaunchFailed, Owned, SessionEndpoints, SessionSpec, environment_kernel
from .docker_containers import (
    HOST,
    KERNEL,
    DockerImages,
    Found,
    Plan,
    check_images,
    end_session,
    free_ports,
    labels_of,
    list_owned,
    owner_of,
    start_server,
    wait_servers_ready,
)
from .docker_services import start_services
from .endpoints import ready_endpoints
from .kernelspecs import KERNELS_DIR, write_kernelspecs
from .lab import server_arguments
from .venvs import ENTERPRISE_GATEWAY, JUPYTER_SERVER

logger = logging.getLogger(__name__)

PROJECT_MOUNT = "/project-dir"
KERNELS_MOUNT = "/usr/local/share/jupyter/kernels"


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
        timeouts: DockerTimeouts | None = None,
        data_dir: Path | None = None,
    ) -> None:
        """``owner``: names this runtime's containers among the engine's.
        ``user``: ``uid:gid`` of the Jupyter server, kernels and services
        (default: the project directory's owner). ``data_dir``: the data
        directory, a service's ``/data`` bind (default: ``data`` beside
        ``sessions_dir``)."""
        self.sessions_dir = sessions_dir
        self.owner = owner
        self.docker_url = engine_url(docker_url)
        self.images = images or DockerImages()
        self.user = user
        self.server_limits = server_limits or Limits(1024**3, 1.0, 1024)
        self.kernel_limits = kernel_limits or Limits(4 * 1024**3, 2.0, 1024)
        self.kernel_templates = kernel_templates
        self.launch_timeout = launch_timeout
        self.stop_grace_seconds = stop_grace_seconds
        self.timeouts = timeouts or DockerTimeouts()
        self.data_dir = data_dir or sessions_dir.parent / "data"

    def session_dir(self, session_uuid: str) -> Path:
        return self.sessions_dir / session_uuid

    def session_label(self, session_uuid: str) -> str:
        return f"{self.owner}:{session_uuid}"

    async def version(self) -> str:
        """The engine's version; raises ``DockerUnavailable`` when it does not answer."""
        async with self._engine() as engine:
            version = await engine.version()
        return str(version.get("Version", "?"))

    # -- the port --------------------------------------------------------------------

    async def launch(self, spec: SessionSpec) -> SessionEndpoints:
        started = time.monotonic()
        try:
            running = await self._list(session_uuid=spec.session_uuid)
        except DockerFailure as exc:
            raise LaunchFailed(f"Docker: {exc}") from exc
        if running:
            raise LaunchFailed(f"session {spec.session_uuid} is running already")
        try:
            return await self._launch(spec, started)
        except BaseException as exc:
            try:
                await asyncio.shield(self.stop(spec.session_uuid))
            except DockerFailure as failed:
                logger.warning("session %s: not all removed: %s", spec.session_uuid, failed)
            if isinstance(exc, LaunchFailed | asyncio.CancelledError | KeyboardInterrupt):
                raise
            if isinstance(exc, DockerFailure):
                raise LaunchFailed(f"Docker: {exc}") from exc
            logger.exception("session %s: launch failed", spec.session_uuid)
            raise LaunchFailed(f"{type(exc).__name__}: {exc}") from exc

    async def stop(self, session_uuid: str) -> None:
        for _ in range(3):  # again if something started while the first ones ended
            async with self._engine() as engine:
                found = await list_owned(engine, self.owner, self.session_label(session_uuid))
                if not found:
                    break
                await end_session(engine, found, self.stop_grace_seconds)
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
        async with self._engine() as engine:
            await check_images(engine, self.images)
            plan = await asyncio.to_thread(self._prepare, spec)
            servers = await asyncio.gather(
                start_server(
                    engine,
                    ENTERPRISE_GATEWAY,
                    _name(ENTERPRISE_GATEWAY, spec),
                    self._gateway_config(plan),
                    f"{plan.gateway_url}/api/kernelspecs",
                    plan.gateway_token,
                ),
                # Answered through EG: ready means connected to it.
                start_server(
                    engine,
                    JUPYTER_SERVER,
                    _name(JUPYTER_SERVER, spec),
                    self._jupyter_config(plan),
                    f"{plan.jupyter_url}api/kernelspecs",
                    plan.jupyter_token,
                ),
            )
            await wait_servers_ready(engine, list(servers), self.launch_timeout)
            services = await start_services(
                engine,
                spec,
                user=plan.user,
                labels_of=lambda role: self._labels(spec, role),
                limits=self.kernel_limits,
                data_dir=self.data_dir,
            )
        return ready_endpoints(
            spec,
            plan,
            session_dir=self.session_dir(spec.session_uuid),
            started=started,
            services=services,
            details={
                "kernel_image": self.images.kernel,
                "user": plan.user,
                "containers": {
                    server.role: {"id": server.container, "name": _name(server.role, spec)}
                    for server in servers
                },
            },
        )

    def _prepare(self, spec: SessionSpec) -> Plan:
        """The session directory with its kernelspecs, ports, tokens. Blocking."""
        root = self.session_dir(spec.session_uuid)
        shutil.rmtree(root, ignore_errors=True)  # what a crashed launch left
        root.mkdir(parents=True, mode=0o700)
        kernels_dir = root / "kernels"
        kernels_dir.mkdir(mode=0o700)
        user = self.user or owner_of(spec.project_dir)
        limits = self.kernel_limits
        kernels = []
        built = {environment_kernel(e): image for e, image in spec.environment_images.items()}
        for name, image in {**self.images.kernels(), **built}.items():
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
        gateway_port, response_port, jupyter_port = free_ports(3)
        return Plan(
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
        return labels_of(self.owner, spec, role)

    def _gateway_config(self, plan: Plan) -> dict[str, Any]:
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
        engine_socket = unix_socket(self.docker_url)
        groups = []
        if engine_socket is not None:
            groups.append(str(os.stat(engine_socket).st_gid))
            env["DOCKER_HOST"] = f"unix://{SOCKET_MOUNT}"
        else:
            env["DOCKER_HOST"] = self.docker_url
        return container_config(
            self.images.enterprise_gateway,
            [
                "jupyter",
                "enterprisegateway",
                f"--EnterpriseGatewayApp.ip={HOST}",
                f"--EnterpriseGatewayApp.port={plan.gateway_port}",
                "--EnterpriseGatewayApp.port_retries=0",
                "--KernelSpecManager.ensure_native_kernel=False",
                *(f"--KernelSpecManager.whitelist={name}" for name in plan.kernels),
            ],
            env=env,
            user=f"{os.getuid()}:{os.getgid()}",
            labels=self._labels(plan.spec, ENTERPRISE_GATEWAY),
            limits=self.server_limits,
            mounts=[Mount(plan.kernels_dir, KERNELS_MOUNT, read_only=True)],
            engine_socket=engine_socket,
            group_add=groups,
        )

    def _jupyter_config(self, plan: Plan) -> dict[str, Any]:
        env = {
            "JUPYTER_TOKEN": plan.jupyter_token,
            "JUPYTER_GATEWAY_URL": plan.gateway_url,
            "JUPYTER_GATEWAY_AUTH_TOKEN": plan.gateway_token,
            "HOME": "/tmp",  # the user may have no home in the image
        }
        return container_config(
            self.images.jupyter_server,
            [
                "jupyter",
                "server",
                f"--ServerApp.ip={HOST}",
                f"--ServerApp.port={plan.jupyter_port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={PROJECT_MOUNT}",
                "--ServerApp.open_browser=False",
                # JupyterLab in the pipeline's folder, offline (``lab.py``).
                *server_arguments(plan.spec.pipeline_path),
            ],
            env=env,
            user=plan.user,
            labels=self._labels(plan.spec, JUPYTER_SERVER),
            limits=self.server_limits,
            mounts=[Mount(Path(plan.spec.project_dir), PROJECT_MOUNT)],
            working_dir=PROJECT_MOUNT,
        )

    # -- finding and ending containers ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def _engine(self) -> AsyncIterator[DockerEngine]:
        """A client for one operation (cheap: a Unix socket; never bound to a
        loop that ended). An engine that does not answer is ``DockerUnavailable``."""
        async with DockerEngine.open(self.docker_url, self.timeouts) as engine:
            yield engine

    async def _list(self, *, session_uuid: str | None = None) -> list[Found]:
        """This owner's containers (of one session), whatever their state."""
        session = None if session_uuid is None else self.session_label(session_uuid)
        async with self._engine() as engine:
            return await list_owned(engine, self.owner, session)


def _name(role: str, spec: SessionSpec) -> str:
    return f"orchest-{role}-{spec.session_uuid}"
