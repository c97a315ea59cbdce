"""The supervisor of an embedded stack: ``python -m orchest_cli.supervisor``.

``orchest up`` starts it detached (its own session). It holds the state
directory's lock, starts NATS and Postgres unless ``ORCHEST_NATS_URL`` /
``ORCHEST_DATABASE_URL`` point elsewhere, starts each service as its own
process, restarts a service that dies (with backoff), and tells ``orchest
up`` through a pipe once ``/api/health`` answers 200. On SIGTERM it stops
the services (they drain), then Postgres, then NATS, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from orchest_schemas.bus import DEFAULT_PREFIX

from .auth import auth_headers
from .backoff import RestartPolicy
from .bytecode import bytecode_env
from .embedded import LOOPBACK, SERVICES_USER, EmbeddedNats, EmbeddedPostgres, NatsUsers
from .processes import EmbeddedStartError, process_identity, spawn, stop_process
from .statedir import StateDir, StateLock

logger = logging.getLogger("orchest.supervisor")

SERVICES: tuple[tuple[str, str], ...] = (
    ("gateway", "orchest_gateway"),
    ("scheduler", "orchest_scheduler"),
    ("step-runner", "orchest_step_runner"),
    ("session-manager", "orchest_session_manager"),
)
"""(service name, module run with ``python -m``)."""


def service_processes(runners: int, gateways: int = 1) -> list[tuple[str, str]]:
    """The processes to supervise: one of each service, ``runners`` step runners
    (named ``step-runner``, ``step-runner-2``, ...) and ``gateways`` gateways
    (``gateway``, ``gateway-2``, ...: they share the port, ``SO_REUSEPORT``)."""
    replicas = {"step-runner": runners, "gateway": gateways}
    out: list[tuple[str, str]] = []
    for name, module in SERVICES:
        count = replicas.get(name, 1)
        out += [(name if i == 1 else f"{name}-{i}", module) for i in range(1, count + 1)]
    return out


START_ENV = "ORCHEST_START_ENV"
"""``orchest_service.entry.START_ENV`` (not imported: that is half a second
of the supervisor's own start)."""

DATABASE_NAME = "orchest"
TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
"""What the services' settings (pydantic) read as true."""
SERVICE_STOP_GRACE = 40.0
"""Longer than a service's own drain timeout (30 s by default)."""


class Supervised:
    """One service process, restarted with backoff whenever it exits."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        policy: RestartPolicy,
        on_start: Callable[[], None],
        start_env: asyncio.Future[dict[str, str]] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.policy = policy
        self.on_start = on_start
        self.start_env = start_env
        """The rest of the environment (where NATS and Postgres are), once they
        are up: a process started before gets it on stdin (``await_start_env``)."""
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._handing: asyncio.Task[None] | None = None

    async def _spawn(self, log: IO[bytes]) -> asyncio.subprocess.Process:
        if self.start_env is None:
            return await spawn(self.argv, env=self.env, log=log)
        if self.start_env.done() and not self.start_env.cancelled():
            return await spawn(self.argv, env={**self.env, **self.start_env.result()}, log=log)
        proc = await spawn(
            self.argv, env={**self.env, START_ENV: "stdin"}, log=log, stdin_pipe=True
        )
        self._handing = asyncio.create_task(self._hand_start_env(proc, self.start_env))
        return proc

    @staticmethod
    async def _hand_start_env(
        proc: asyncio.subprocess.Process, start_env: asyncio.Future[dict[str, str]]
    ) -> None:
        """Write the rest of the environment to ``proc``'s stdin once it is
        known; close stdin without it (the process exits) if it never is."""
        assert proc.stdin is not None
        try:
            await asyncio.wait({start_env})  # not cancelling it when cancelled
            if not start_env.cancelled() and start_env.exception() is None:
                proc.stdin.write((json.dumps(start_env.result()) + "\n").encode())
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it exited meanwhile; its exit is seen in ``run``
        finally:
            proc.stdin.close()

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await self._run(stopping)
        finally:
            if self._handing is not None:
                self._handing.cancel()

    async def _run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not stopping.is_set():
            with self.log_path.open("ab") as log:
                self.proc = await self._spawn(log)
            started = loop.time()
            self.on_start()
            logger.info("%s started (pid %d)", self.name, self.proc.pid)
            exited = asyncio.create_task(self.proc.wait())
            stop = asyncio.create_task(stopping.wait())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if stopping.is_set():
                code = await stop_process(
                    self.proc, name=self.name, grace_seconds=SERVICE_STOP_GRACE
                )
                logger.info("%s stopped (exit code %s)", self.name, code)
                return
            ran_for = loop.time() - started
            failures = self.policy.failures_after_exit(failures, ran_for)
            delay = self.policy.delay(failures)
            self.restarts += 1
            logger.warning(
                "%s (pid %d) exited with code %s after %.1fs; restart %d in %.2fs",
                self.name,
                self.proc.pid,
                self.proc.returncode,
                ran_for,
                self.restarts,
                delay,
            )
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                continue


@dataclass
class StackInfo:
    state: StateDir
    gateway_url: str
    nats_url: str
    database_url: str
    embedded_nats: EmbeddedNats | None
    embedded_postgres: EmbeddedPostgres | None
    services: list[Supervised]
    started_at: str
    nats_users: NatsUsers | None = None
    """The embedded NATS's users; None with an external NATS."""

    def as_json(self) -> dict[str, Any]:
        pids: dict[str, int] = {"supervisor": os.getpid()}
        if self.embedded_nats is not None:
            pids["nats"] = self.embedded_nats.pid
        if self.embedded_postgres is not None:
            pids["postgres"] = self.embedded_postgres.pid
        for s in self.services:
            if s.proc is not None and s.proc.returncode is None:
                pids[s.name] = s.proc.pid
        processes = {name: process_identity(pid) for name, pid in pids.items()}
        return {
            "gateway_url": self.gateway_url,
            "nats_url": self.nats_url,
            "database_url": self.database_url,
            "embedded": {
                "nats": self.embedded_nats is not None,
                "postgres": self.embedded_postgres is not None,
            },
            "started_at": self.started_at,
            "nats_users_file": (
                str(self.state.nats_users_file) if self.nats_users is not None else None
            ),
            "processes": processes,
            "restarts": {s.name: s.restarts for s in self.services},
            "sessions": _sessions_record(self.state),
        }

    def save(self) -> None:
        self.state.write_stack(self.as_json())


async def wait_healthy(url: str, timeout: float, stopping: asyncio.Event) -> tuple[bool, str]:
    """Ask ``/api/health`` until it answers 200; (ok, last message)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    message = "gateway not answering yet"
    async with httpx.AsyncClient(headers=auth_headers(), timeout=2.0) as client:
        while loop.time() < deadline and not stopping.is_set():
            try:
                response = await client.get(f"{url}/api/health")
                if response.status_code == 200:
                    return True, "healthy"
                message = response.json().get("message", response.text)
            except (httpx.HTTPError, ValueError) as exc:
                message = f"gateway not answering yet ({type(exc).__name__})"
            await asyncio.sleep(0.05)
    return False, message


def _notify(fd: int | None, payload: dict[str, Any]) -> None:
    if fd is None:
        return
    try:
        os.write(fd, (json.dumps(payload) + "\n").encode())
        os.close(fd)
    except OSError:
        pass  # orchest up went away: nobody to tell


async def run_stack(
    state: StateDir,
    port: int,
    notify_fd: int | None,
    ready_timeout: float,
    runners: int = 1,
    gateways: int = 1,
) -> int:
    lock = StateLock(state)
    if not lock.acquire():
        _notify(notify_fd, {"ready": False, "error": f"a stack already runs on {state.root}"})
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stopping.set)
    t0 = time.monotonic()
    try:
        async with AsyncExitStack() as stack:
            start_env: asyncio.Future[dict[str, str]] = loop.create_future()
            started: list[StackInfo] = []
            env = _base_env(state, port)
            # Several gateways listen on one port, each with SO_REUSEPORT.
            gateway_env = {**env, "ORCHEST_REUSE_PORT": "true"} if gateways > 1 else env
            policy = RestartPolicy()
            services = [
                Supervised(
                    name,
                    [sys.executable, "-m", module],
                    gateway_env if module == "orchest_gateway" else env,
                    state.log(name),
                    policy,
                    on_start=lambda: started[0].save() if started else None,
                    start_env=start_env,
                )
                for name, module in service_processes(runners, gateways)
            ]
            # The services start (their imports: most of their start) while NATS
            # and Postgres do; they get where those are on stdin once they are up.
            tasks = [asyncio.create_task(s.run(stopping), name=s.name) for s in services]
            try:
                info = await _start_dependencies(state, port, stack, services)
            except BaseException as exc:
                start_env.cancel()  # each closes its stdin: they exit
                stopping.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                if not isinstance(exc, EmbeddedStartError):
                    raise
                logger.error("%s", exc)
                _notify(notify_fd, {"ready": False, "error": str(exc)})
                return 1
            started.append(info)
            start_env.set_result(_dependencies_env(info))
            ok, message = await wait_healthy(info.gateway_url, ready_timeout, stopping)
            elapsed = time.monotonic() - t0
            if ok:
                logger.info("stack healthy in %.2fs at %s", elapsed, info.gateway_url)
                _notify(notify_fd, {"ready": True, "seconds": elapsed, **info.as_json()})
            else:
                logger.error("stack not healthy after %.1fs: %s", elapsed, message)
                _notify(notify_fd, {"ready": False, "error": message})
                stopping.set()
            await stopping.wait()
            logger.info("stopping the stack")
            await asyncio.gather(*tasks)
        return 0 if ok else 1
    finally:
        state.stack_file.unlink(missing_ok=True)
        lock.release()
        logger.info("stack stopped")


async def _start_dependencies(
    state: StateDir, port: int, stack: AsyncExitStack, services: list[Supervised]
) -> StackInfo:
    nats_url = os.environ.get("ORCHEST_NATS_URL")
    database_url = os.environ.get("ORCHEST_DATABASE_URL")
    users: NatsUsers | None = None
    embedded_nats: EmbeddedNats | None = None
    if not nats_url:
        prefix = os.environ.get("ORCHEST_BUS_PREFIX", DEFAULT_PREFIX)
        try:
            users = NatsUsers.load_or_generate(state.nats_users_file, prefix)
        except ValueError as exc:  # a bus prefix BusNames refuses
            raise EmbeddedStartError(f"ORCHEST_BUS_PREFIX: {exc}") from exc
        embedded_nats = EmbeddedNats(
            state.nats, state.log("nats"), users=users, config_path=state.nats_config
        )
    embedded_pg = (
        EmbeddedPostgres(state.postgres, state.log("postgres")) if not database_url else None
    )
    servers = [s for s in (embedded_nats, embedded_pg) if s is not None]
    for server in servers:
        stack.push_async_callback(server.stop)
    try:
        async with asyncio.TaskGroup() as group:  # both start at once
            for server in servers:
                group.create_task(server.start())
    except ExceptionGroup as failed:
        raise EmbeddedStartError("\n".join(str(e) for e in failed.exceptions)) from failed
    if embedded_nats is not None:
        nats_url = embedded_nats.url
        logger.info("embedded NATS ready at %s", nats_url)
    if embedded_pg is not None:
        await embedded_pg.create_database(DATABASE_NAME)
        database_url = embedded_pg.url(DATABASE_NAME)
        logger.info("embedded Postgres ready on port %d", embedded_pg.port)
    assert nats_url and database_url
    info = StackInfo(
        state=state,
        gateway_url=f"http://{LOOPBACK}:{port}",
        nats_url=nats_url,
        database_url=database_url,
        embedded_nats=embedded_nats,
        embedded_postgres=embedded_pg,
        services=services,
        started_at=datetime.now(UTC).isoformat(),
        nats_users=users,
    )
    info.save()
    return info


def _service_env(info: StackInfo, port: int) -> dict[str, str]:
    """A service's whole environment."""
    return {**_base_env(info.state, port), **_dependencies_env(info)}


def _sessions_record(state: StateDir) -> dict[str, Any]:
    """Where the session manager keeps its process sessions and whether it
    stops them when it stops: ``orchest down`` ends what it left of them."""
    env = _base_env(state, 0)
    stop = env["ORCHEST_SESSION_STOP_ON_EXIT"].strip().lower() in TRUE_WORDS
    return {"dir": env["ORCHEST_SESSIONS_DIR"], "stop_on_exit": stop}


def _base_env(state: StateDir, port: int) -> dict[str, str]:
    """A service's environment but where NATS and Postgres are."""
    env = bytecode_env(os.environ)
    env.update(ORCHEST_HOST=LOOPBACK, ORCHEST_PORT=str(port), PYTHONUNBUFFERED="1")
    env.setdefault("ORCHEST_JOBS_DIR", str(state.jobs))
    env.setdefault("ORCHEST_PROJECTS_DIR", str(state.projects))
    env.setdefault("ORCHEST_SESSIONS_DIR", str(state.sessions))
    env.setdefault("ORCHEST_DATA_DIR", str(state.data))
    env.setdefault("ORCHEST_SESSION_VENVS_DIR", str(state.session_venvs))
    env.setdefault("ORCHEST_SESSION_STOP_ON_EXIT", "true")  # orchest down leaves nothing
    return env


def _dependencies_env(info: StackInfo) -> dict[str, str]:
    """Where NATS and Postgres are, and the NATS credentials."""
    env = {"ORCHEST_NATS_URL": info.nats_url, "ORCHEST_DATABASE_URL": info.database_url}
    if info.nats_users is not None:  # the embedded NATS admits only its users
        env.update(
            ORCHEST_NATS_USER=SERVICES_USER,
            ORCHEST_NATS_PASSWORD=info.nats_users.services_password,
        )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchest_cli.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--notify-fd", type=int, default=None)
    parser.add_argument("--ready-timeout", type=float, default=90.0)
    parser.add_argument("--runners", type=int, default=1)
    parser.add_argument("--gateways", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s supervisor: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    state = StateDir(args.state_dir.resolve())
    state.prepare()
    return asyncio.run(
        run_stack(
            state,
            args.port,
            args.notify_fd,
            args.ready_timeout,
            max(1, args.runners),
            max(1, args.gateways),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
