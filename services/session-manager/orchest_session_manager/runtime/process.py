"""Sessions as local processes: Enterprise Gateway and a Jupyter server, each
from its own locked venv (``venvs.py``), kernels started by Enterprise
Gateway's ``LocalProcessProxy`` from the kernelspecs of ``kernels/process/``.
Every process of a session is started detached and found again by its marker
(``session_processes.py``), so a session outlives a restart (or a
``kill -9``) of the session manager.

A session's directory (mode 0700, removed by ``stop``):

```
<sessions dir>/<session uuid>/
  config/    JUPYTER_CONFIG_DIR: both servers' configuration (tokens, ports)
  jupyter/   JUPYTER_PATH: kernels/<name>/kernel.json, filled from the templates
  data/      JUPYTER_DATA_DIR
  runtime/   JUPYTER_RUNTIME_DIR: kernels' connection files
  logs/      enterprise-gateway.log (kernels' output too), jupyter-server.log,
             service-<name>.log (each user service's output)
  python/    orchest_jupyter.py (see lab.py), on the Jupyter server's sys.path
```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from orchest_schemas.session_marks import MARKER_VARIABLE, ROLE_VARIABLE, owner_key
from orchest_service.childenv import child_environment

from .base import LaunchFailed, Owned, SessionEndpoints, SessionSpec, environment_kernel
from .endpoints import ready_endpoints
from .kernelspecs import KERNELS_DIR, write_kernelspecs
from .lab import CONNECTION_MODULE, PAGE_CONFIG, server_config
from .process_services import start_services
from .readiness import Probe, wait_ready
from .session_processes import (
    detach,
    is_gone,
    marked,
    marked_by,
    session_processes,
    signal_all,
    tail,
    wait_gone,
)
from .venvs import (
    ENTERPRISE_GATEWAY,
    JUPYTER_SERVER,
    EnvironmentFailed,
    ensure_venv,
    environment_python,
)

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

POLL_SECONDS = 0.05
KILL_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class _Plan:
    """A session about to be started: its directory, addresses, tokens and the
    environment of both servers."""

    root: Path
    gateway_url: str
    gateway_token: str
    jupyter_url: str
    jupyter_token: str
    kernels: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class _Server:
    """One of a session's two servers while it launches."""

    role: str
    process: psutil.Process
    log: Path
    ready_url: str
    headers: dict[str, str]


def session_kernelspecs(sessions_dir: Path) -> list[Path]:
    """The ``kernel.json`` of every session of ``sessions_dir`` (``stop``
    removes a session's with its directory). Blocking."""
    return sorted(sessions_dir.glob("*/jupyter/kernels/*/kernel.json"))


class ProcessRuntime:
    """Runs sessions as local processes (the embedded default)."""

    name = "process"

    def __init__(
        self,
        sessions_dir: Path,
        *,
        venvs_dir: Path | None = None,
        kernel_python: Path | None = None,
        kernel_templates: Path = KERNELS_DIR / "process",
        launch_timeout: float = 60.0,
        stop_grace_seconds: float = 5.0,
    ) -> None:
        """``kernel_python``: the interpreter of kernels (it needs ipykernel);
        by default the Jupyter server environment's, which has it."""
        self.sessions_dir = sessions_dir
        self.owner = owner_key(sessions_dir)
        self.venvs_dir = venvs_dir
        self.kernel_python = kernel_python
        self.kernel_templates = kernel_templates
        self.launch_timeout = launch_timeout
        self.stop_grace_seconds = stop_grace_seconds

    def session_dir(self, session_uuid: str) -> Path:
        return self.sessions_dir / session_uuid

    async def launch(self, spec: SessionSpec) -> SessionEndpoints:
        started = time.monotonic()
        try:
            gateway_env, jupyter_env = await asyncio.gather(
                *(
                    asyncio.to_thread(ensure_venv, name, venvs_dir=self.venvs_dir)
                    for name in (ENTERPRISE_GATEWAY, JUPYTER_SERVER)
                )
            )
        except EnvironmentFailed as exc:
            raise LaunchFailed(f"environment: {exc}") from exc
        if await asyncio.to_thread(session_processes, self.owner, spec.session_uuid):
            raise LaunchFailed(f"session {spec.session_uuid} is running already")
        try:
            return await self._launch(spec, gateway_env, jupyter_env, started)
        except BaseException as exc:
            await asyncio.shield(self.stop(spec.session_uuid))
            if isinstance(exc, LaunchFailed | asyncio.CancelledError | KeyboardInterrupt):
                raise
            logger.exception("session %s: launch failed", spec.session_uuid)
            raise LaunchFailed(f"{type(exc).__name__}: {exc}") from exc

    async def stop(self, session_uuid: str) -> None:
        for _ in range(3):  # again if something started while the first ones ended
            found = await asyncio.to_thread(marked_by, self.owner, session_uuid)
            if not found:
                break
            everything = await asyncio.to_thread(session_processes, self.owner, session_uuid)
            # The Jupyter server first: it ends its kernels through Enterprise
            # Gateway. Without a Gateway it hangs on exit: then it is killed.
            jupyter = [p for p, role in found if role == JUPYTER_SERVER]
            gateway_up = any(role == ENTERPRISE_GATEWAY for _, role in found)
            await self._end(session_uuid, jupyter, self.stop_grace_seconds if gateway_up else 0.0)
            await self._end(session_uuid, everything, self.stop_grace_seconds)
        await asyncio.to_thread(shutil.rmtree, self.session_dir(session_uuid), ignore_errors=True)

    async def _end(self, session_uuid: str, processes: list[psutil.Process], grace: float) -> None:
        """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL."""
        if not processes:
            return
        if grace > 0:
            await asyncio.to_thread(signal_all, processes, signal.SIGTERM)
            if not (processes := await wait_gone(processes, grace)):
                return
            logger.warning(
                "session %s: %d processes still running after %.0fs: killing",
                session_uuid,
                len(processes),
                grace,
            )
        await asyncio.to_thread(signal_all, processes, signal.SIGKILL)
        if left := await wait_gone(processes, KILL_WAIT_SECONDS):
            logger.error("session %s: pids %s survive SIGKILL", session_uuid, [p.pid for p in left])

    async def alive(self, session_uuid: str) -> bool:
        roles = {role for _, role in await asyncio.to_thread(marked_by, self.owner, session_uuid)}
        return {ENTERPRISE_GATEWAY, JUPYTER_SERVER} <= roles

    async def owned(self) -> list[Owned]:
        found = await asyncio.to_thread(marked, self.owner)
        return [
            Owned(
                session_uuid=session_uuid,
                role=role,
                ref=f"{process.pid}@{process.create_time():.2f}",
                details={"pid": process.pid, "create_time": process.create_time()},
            )
            for process, session_uuid, role in found
        ]

    async def _launch(
        self, spec: SessionSpec, gateway_env: Path, jupyter_env: Path, started: float
    ) -> SessionEndpoints:
        plan = await asyncio.to_thread(self._prepare, spec, jupyter_env)
        gateway = await self._start(
            ENTERPRISE_GATEWAY,
            [str(gateway_env / "bin" / "jupyter-enterprisegateway")],
            plan,
            ready_url=f"{plan.gateway_url}/api/kernelspecs",
            headers={"Authorization": f"token {plan.gateway_token}"},
        )
        jupyter = await self._start(
            JUPYTER_SERVER,
            [str(jupyter_env / "bin" / "jupyter-server")],
            plan,
            # Answered through Enterprise Gateway: ready means connected to it.
            ready_url=f"{plan.jupyter_url}api/kernelspecs",
            headers={"Authorization": f"token {plan.jupyter_token}"},
        )
        await _wait_ready([gateway, jupyter], self.launch_timeout)
        services = await start_services(self.owner, spec, plan.root)
        return ready_endpoints(
            spec,
            plan,
            session_dir=plan.root,
            started=started,
            services=services,
            details={
                "processes": {
                    server.role: {
                        "pid": server.process.pid,
                        "create_time": server.process.create_time(),
                        "log": str(server.log),
                    }
                    for server in (gateway, jupyter)
                },
            },
        )

    def _prepare(self, spec: SessionSpec, jupyter_env: Path) -> _Plan:
        """The session directory (kernelspecs, both servers' configuration),
        ports, tokens and the servers' environment. Blocking."""
        root = self.session_dir(spec.session_uuid)
        shutil.rmtree(root, ignore_errors=True)  # what a crashed launch left
        dirs = {
            name: root / name for name in ("config", "jupyter", "data", "runtime", "logs", "python")
        }
        root.mkdir(parents=True, mode=0o700)
        for path in dirs.values():
            path.mkdir(mode=0o700)
        kernel_python = self.kernel_python or environment_python(jupyter_env)
        kernels = write_kernelspecs(
            self.kernel_templates, dirs["jupyter"] / "kernels", {"PYTHON": str(kernel_python)}
        )
        for environment, venv in sorted(spec.environment_venvs.items()):
            kernels += write_kernelspecs(
                self.kernel_templates,
                dirs["jupyter"] / "kernels",
                {"PYTHON": str(Path(venv) / "bin" / "python")},
                rename={"python3": environment_kernel(environment)},
            )
        gateway_port, jupyter_port = _free_ports(2)
        plan = _Plan(
            root=root,
            gateway_url=f"http://{HOST}:{gateway_port}",
            gateway_token=secrets.token_hex(24),
            jupyter_url=f"http://{HOST}:{jupyter_port}/",
            jupyter_token=secrets.token_hex(24),
            kernels=kernels,
            # Of the session manager's own environment (its settings and
            # secrets), both servers and so the kernels get the allow-list only.
            env=child_environment(
                os.environ,
                variables=spec.env,
                contract={
                    "ORCHEST_PROJECT_DIR": spec.project_dir,
                    MARKER_VARIABLE: f"{self.owner}:{spec.session_uuid}",
                },
            ),
        )
        # What kernels get from Enterprise Gateway's environment (their role
        # is their kernelspec's: an inherited variable would override it).
        kernel_variables = sorted(plan.env)
        plan.env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_PATH=str(dirs["jupyter"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        )
        _write_config(
            dirs["config"] / "jupyter_enterprise_gateway_config.json",
            {
                "EnterpriseGatewayApp": {
                    "ip": HOST,
                    "port": gateway_port,
                    "port_retries": 0,
                    "auth_token": plan.gateway_token,
                    # Kernels run as this user, whoever it is (root included):
                    # there is no impersonation here.
                    "unauthorized_users": [],
                    "list_kernels": True,
                    "inherited_envs": kernel_variables,
                },
                "KernelSpecManager": {"whitelist": kernels, "ensure_native_kernel": False},
            },
        )
        # JupyterLab (its server extension, enabled in the environment) opens
        # in the pipeline's folder, offline; see ``lab.py``.
        lab = server_config(spec.pipeline_path)
        shutil.copy(CONNECTION_MODULE, dirs["python"])
        # On the server's sys.path by its configuration, not PYTHONPATH (which
        # its terminals would inherit).
        (dirs["config"] / "jupyter_server_config.py").write_text(
            f"import sys\n\nsys.path.insert(0, {str(dirs['python'])!r})\n"
        )
        (dirs["config"] / "labconfig").mkdir(mode=0o700)
        _write_config(dirs["config"] / "labconfig" / "page_config.json", PAGE_CONFIG)
        _write_config(
            dirs["config"] / "jupyter_server_config.json",
            {
                **lab,
                "ServerApp": {
                    **lab["ServerApp"],
                    "ip": HOST,
                    "port": jupyter_port,
                    "port_retries": 0,
                    "root_dir": spec.project_dir,
                    "open_browser": False,
                    "allow_root": True,
                },
                "IdentityProvider": {"token": plan.jupyter_token},
                "GatewayClient": {"url": plan.gateway_url, "auth_token": plan.gateway_token},
            },
        )
        return plan

    async def _start(
        self,
        role: str,
        argv: list[str],
        plan: _Plan,
        *,
        ready_url: str,
        headers: dict[str, str],
    ) -> _Server:
        """Start one server detached (see ``detach.py``); its cwd is the
        session directory (kernels change to theirs)."""
        log = plan.root / "logs" / f"{role}.log"
        process = await detach(role, argv, {**plan.env, ROLE_VARIABLE: role}, log, plan.root)
        return _Server(role, process, log, ready_url, headers)


def _write_config(path: Path, config: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(config, file, indent=2)


def _free_ports(count: int) -> list[int]:
    """Ports free on the loopback now (held together, so distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


async def _wait_ready(servers: list[_Server], timeout: float) -> None:
    """Wait for both servers (``readiness.wait_ready``); a process that exits fails it."""

    def probe(server: _Server) -> Probe:
        async def exited() -> str | None:
            return "exited" if is_gone(server.process) else None

        async def last_lines() -> str:
            return await asyncio.to_thread(tail, server.log)

        return Probe(server.role, server.ready_url, server.headers, exited, last_lines)

    await wait_ready([probe(s) for s in servers], timeout, POLL_SECONDS)
