"""Sessions: launch, stop and restart commands, reconciliation, health watch.

A session is one row per launch in ``sessions``: ``LAUNCHING -> RUNNING ->
STOPPING -> STOPPED``, or ``FAILED`` with the reason. Commands answer at
once; the work (the runtime starting or stopping processes or containers)
goes on in a task, and each status change is written, then published as a
``SessionStatusChanged`` event. One live session per (project, pipeline): a
unique index on the live ones makes a second launch a 409, whichever replica
gets it.

Each session is owned by the session manager of one host (``owner``): its
processes or containers live there. At start, that manager reconciles what
its runtimes run with what the table says (``reconcile``), and while it runs
it checks its running sessions' health (``watch``).

Past 400 lines, on purpose: commands, reconciliation and the health watch
all start, replace and await the same table of per-session work tasks
(``_start_work``), which is what keeps two changes of one session from
running at once; apart, each would reach into the others' tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import AbortRun, LaunchSession, RestartSession, StopSession
from orchest_schemas.errors import ErrorCode, ErrorDetail
from orchest_schemas.events import SessionStatusChanged
from orchest_schemas.runs import RunView
from orchest_schemas.sessions import SessionView
from orchest_schemas.status import SessionStatus
from orchest_service.broker import publish_told
from orchest_service.commands import request_command
from orchest_service.errors import TRANSIENT_ERRORS, CommandError

from . import build_store, store
from .locations import locate
from .runtime.base import LaunchFailed, SessionRuntime, SessionSpec
from .runtime.services import interactive_services

logger = logging.getLogger(__name__)

_ABORT_ERRORS: tuple[type[BaseException], ...] = (CommandError, *TRANSIENT_ERRORS)

LAUNCHING, RUNNING, STOPPING, STOPPED, FAILED = (
    SessionStatus.LAUNCHING,
    SessionStatus.RUNNING,
    SessionStatus.STOPPING,
    SessionStatus.STOPPED,
    SessionStatus.FAILED,
)


class Sessions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: BusNames,
        nc: Client,
        js: JetStreamContext,
        runtimes: Mapping[str, SessionRuntime],
        *,
        default_runtime: str,
        owner: str,
        launch_timeout: float,
        command_timeout: float = 10.0,
    ) -> None:
        if default_runtime not in runtimes:
            raise ValueError(f"no runtime {default_runtime!r}: {sorted(runtimes)}")
        self._pool = pool
        self._bus = bus
        self._nc = nc
        self._js = js
        self._runtimes = runtimes
        self._default = default_runtime
        self._owner = owner
        self._launch_timeout = launch_timeout
        self._command_timeout = command_timeout
        self._work: dict[str, asyncio.Task[None]] = {}
        """The launch or stop going on for each session (one at a time)."""

    # -- commands ------------------------------------------------------------------

    async def launch(self, command: LaunchSession) -> SessionView:
        project_dir, pipeline_path = await locate(
            self._nc, self._bus, command, self._command_timeout
        )
        command = command.model_copy(
            update={"project_dir": project_dir, "pipeline_path": pipeline_path}
        )
        runtime = command.runtime or self._default
        problems = []
        if runtime not in self._runtimes:
            problems.append(
                ErrorDetail(
                    loc=["runtime"],
                    msg=f"unknown runtime {runtime!r}; one of {sorted(self._runtimes)}",
                    type="runtime_unknown",
                )
            )
        if not os.path.isabs(project_dir) or not await asyncio.to_thread(
            os.path.isdir, project_dir
        ):
            problems.append(
                ErrorDetail(
                    loc=["project_dir"],
                    msg=f"{project_dir!r} is not an existing absolute directory",
                    type="project_dir_invalid",
                )
            )
        if problems:
            raise CommandError(
                ErrorCode.INVALID, f"invalid session: {len(problems)} problem(s)", problems
            )
        async with self._pool.acquire() as conn:
            session = await store.insert(
                conn,
                uuid=str(uuid4()),
                project_uuid=command.project_uuid,
                pipeline_uuid=command.pipeline_uuid,
                project_dir=project_dir,
                pipeline_path=pipeline_path,
                runtime=runtime,
                owner=self._owner,
            )
            if session is None:
                live = await store.live_of_pipeline(
                    conn, command.project_uuid, command.pipeline_uuid
                )
        if session is None:
            what = f"{live.uuid} ({live.status.value})" if live else "being stopped"
            raise CommandError(
                ErrorCode.CONFLICT,
                f"pipeline {command.pipeline_uuid} of project {command.project_uuid}"
                f" already has a live session: {what}",
            )
        await self._publish(session)
        self._start_work(session.uuid, self._launch(session))
        return session

    async def stop(self, command: StopSession) -> SessionView:
        session = await self._live(command.project_uuid, command.pipeline_uuid)
        if session.status is STOPPING:
            return session
        async with self._pool.acquire() as conn:
            stopping = await store.transition(
                conn, session.uuid, STOPPING, expected=[LAUNCHING, RUNNING]
            )
        if stopping is None:  # it moved on meanwhile
            return await self._get(session.uuid)
        await self._publish(stopping)
        self._start_work(stopping.uuid, self._stop(stopping), replace=True)
        return stopping

    async def restart(self, command: RestartSession) -> SessionView:
        session = await self._live(command.project_uuid, command.pipeline_uuid)
        if session.status is not RUNNING:
            raise CommandError(
                ErrorCode.CONFLICT,
                f"session {session.uuid} is {session.status.value}: only a running session"
                " restarts",
            )
        async with self._pool.acquire() as conn:
            launching = await store.transition(conn, session.uuid, LAUNCHING, expected=[RUNNING])
        if launching is None:
            return await self._get(session.uuid)
        await self._publish(launching)
        self._start_work(launching.uuid, self._restart(launching), replace=True)
        return launching

    # -- the work ----------------------------------------------------------------------

    async def _launch(self, session: SessionView) -> None:
        runtime = self._runtimes[session.runtime]
        env = kernel_variables(session)
        services = await asyncio.to_thread(
            interactive_services, session.project_dir, session.pipeline_path, env
        )
        async with self._pool.acquire() as conn:
            built = await build_store.successes_of_project(conn, session.project_uuid)
        spec = SessionSpec(
            session_uuid=session.uuid,
            project_uuid=session.project_uuid,
            pipeline_uuid=session.pipeline_uuid,
            project_dir=session.project_dir,
            pipeline_path=session.pipeline_path,
            env=env,
            services=tuple(services),
            environment_venvs={b.environment_uuid: b.venv_path for b in built if b.venv_path},
            environment_images={b.environment_uuid: b.image for b in built if b.image},
        )
        try:
            endpoints = await asyncio.wait_for(runtime.launch(spec), self._launch_timeout)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await runtime.stop(session.uuid)
            raise
        except Exception as exc:
            reason = _reason(exc, self._launch_timeout)
            logger.warning("session %s: launch failed: %s", session.uuid, reason)
            with contextlib.suppress(Exception):
                await runtime.stop(session.uuid)
            await self._move(session.uuid, FAILED, expected=[LAUNCHING], reason=reason)
            return
        moved = await self._move(
            session.uuid,
            RUNNING,
            expected=[LAUNCHING],
            endpoints={
                "jupyter_url": endpoints.jupyter_url,
                "jupyter_token": endpoints.jupyter_token,
                "gateway_url": endpoints.gateway_url,
                "details": endpoints.details,
            },
        )
        if moved is None:  # stopped while it launched: nothing may stay
            await runtime.stop(session.uuid)

    async def _stop(self, session: SessionView) -> None:
        await self._abort_interactive_runs(session)
        runtime = self._runtimes.get(session.runtime)
        if runtime is not None:
            await runtime.stop(session.uuid)
        await self._move(session.uuid, STOPPED, expected=[STOPPING])

    async def _restart(self, session: SessionView) -> None:
        await self._runtimes[session.runtime].stop(session.uuid)
        await self._launch(session)

    async def _abort_interactive_runs(self, session: SessionView) -> None:
        """The pipeline's interactive runs end with its session."""
        try:
            async with self._pool.acquire() as conn:
                runs = await store.active_interactive_runs(
                    conn, session.project_uuid, session.pipeline_uuid
                )
        except asyncpg.UndefinedTableError:  # no scheduler has migrated this database
            return
        for run_uuid in runs:
            try:
                await request_command(
                    self._nc,
                    self._bus.abort_run,
                    AbortRun(run_uuid=run_uuid),
                    RunView,
                    timeout=self._command_timeout,
                )
                logger.info("session %s: run %s aborted", session.uuid, run_uuid)
            except _ABORT_ERRORS as exc:
                logger.warning("session %s: run %s not aborted: %s", session.uuid, run_uuid, exc)

    # -- reconciliation and health ----------------------------------------------------------

    async def reconcile(self) -> None:
        """At start: make what runs and what the table says agree.

        - ``LAUNCHING``: the launch was interrupted (this manager died during
          it): whatever it started is stopped, the session is ``FAILED``;
          ``PUT`` (restart) or a new launch starts it again.
        - ``RUNNING``: kept if its runtime says it is alive, else ``FAILED``.
        - ``STOPPING``: the stop is finished.
        - Anything a runtime runs for no live session (an orphan) is stopped.
        """
        async with self._pool.acquire() as conn:
            live = await store.live_owned_by(conn, self._owner)
        kept: set[str] = set()
        for session in live:
            runtime = self._runtimes.get(session.runtime)
            if session.status is LAUNCHING or runtime is None:
                if runtime is not None:
                    await runtime.stop(session.uuid)
                await self._move(
                    session.uuid,
                    FAILED,
                    reason="the launch was interrupted (the session manager restarted)"
                    if runtime is not None
                    else f"no runtime {session.runtime!r} in this session manager",
                )
            elif session.status is RUNNING:
                if await runtime.alive(session.uuid):
                    kept.add(session.uuid)
                    await self._publish(session)  # the current state, for late listeners
                else:
                    await runtime.stop(session.uuid)
                    await self._move(
                        session.uuid, FAILED, reason="its processes or containers are gone"
                    )
            else:
                self._start_work(session.uuid, self._stop(session))
                kept.add(session.uuid)
        for name, runtime in self._runtimes.items():
            for owned in await runtime.owned():
                if owned.session_uuid not in kept:
                    logger.info(
                        "%s runtime: stopping orphan of session %s", name, owned.session_uuid
                    )
                    await runtime.stop(owned.session_uuid)

    async def watch(self, stopping: asyncio.Event, every: float) -> None:
        """While serving: a running session whose runtime died becomes ``FAILED``."""
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), every)
                return
            except TimeoutError:
                pass
            try:
                await self.check_health()
            except TRANSIENT_ERRORS as exc:
                logger.warning("session health check failed (%s); next time", exc)

    async def check_health(self) -> None:
        async with self._pool.acquire() as conn:
            live = await store.live_owned_by(conn, self._owner)
        for session in live:
            if session.status is not RUNNING or session.uuid in self._work:
                continue
            runtime = self._runtimes.get(session.runtime)
            if runtime is None or await runtime.alive(session.uuid):
                continue
            logger.warning("session %s died", session.uuid)
            await runtime.stop(session.uuid)
            await self._move(
                session.uuid, FAILED, expected=[RUNNING], reason="its processes or containers died"
            )

    async def close(self, *, stop_all: bool = False) -> None:
        """On stop: launches and stops in flight are let finish (bounded by the
        caller's drain timeout). Sessions stay up, to outlive a restart of the
        manager, unless ``stop_all``: then this host's sessions are stopped."""
        if self._work:
            await asyncio.wait(list(self._work.values()))
        if not stop_all:
            return
        async with self._pool.acquire() as conn:
            live = await store.live_owned_by(conn, self._owner)
        for session in live:
            runtime = self._runtimes.get(session.runtime)
            if runtime is not None:
                await runtime.stop(session.uuid)
            await self._move(session.uuid, STOPPED, reason="the session manager stopped")

    # -- helpers ---------------------------------------------------------------------

    def _start_work(self, session_uuid: str, work: Any, *, replace: bool = False) -> None:
        previous = self._work.get(session_uuid)
        if previous is not None and not previous.done():
            if not replace:
                work.close()
                return
            previous.cancel()

        async def run() -> None:
            if previous is not None and not previous.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await previous
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("session %s: work failed", session_uuid)

        task = asyncio.create_task(run(), name=f"session-{session_uuid}")
        self._work[session_uuid] = task
        task.add_done_callback(
            lambda t: (
                self._work.pop(session_uuid, None) if self._work.get(session_uuid) is t else None
            )
        )

    async def _move(
        self,
        session_uuid: str,
        status: SessionStatus,
        *,
        expected: list[SessionStatus] | None = None,
        reason: str | None = None,
        endpoints: dict[str, Any] | None = None,
    ) -> SessionView | None:
        async with self._pool.acquire() as conn:
            moved = await store.transition(
                conn, session_uuid, status, expected=expected, reason=reason, endpoints=endpoints
            )
        if moved is not None:
            await self._publish(moved)
        return moved

    async def _publish(self, session: SessionView) -> None:
        event = SessionStatusChanged(
            project_uuid=session.project_uuid,
            pipeline_uuid=session.pipeline_uuid,
            status=session.status,
            reason=session.reason,
        )
        subject = self._bus.session_event(session.project_uuid, session.pipeline_uuid)
        await publish_told(self._js, subject, event, f"session {session.uuid}")

    async def _live(self, project_uuid: str, pipeline_uuid: str) -> SessionView:
        async with self._pool.acquire() as conn:
            session = await store.live_of_pipeline(conn, project_uuid, pipeline_uuid)
        if session is None:
            raise CommandError(
                ErrorCode.NOT_FOUND,
                f"no live session for pipeline {pipeline_uuid} of project {project_uuid}",
            )
        return session

    async def _get(self, session_uuid: str) -> SessionView:
        async with self._pool.acquire() as conn:
            session = await store.get(conn, session_uuid)
        assert session is not None
        return session


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, LaunchFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"not ready within {timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def kernel_variables(session: SessionView) -> dict[str, str]:
    """The ``ORCHEST_*`` variables of a session's kernels (the runtime adds
    ``ORCHEST_PROJECT_DIR``, the project's path as kernels see it)."""
    return {
        "ORCHEST_PROJECT_UUID": session.project_uuid,
        "ORCHEST_PIPELINE_UUID": session.pipeline_uuid,
        "ORCHEST_SESSION_TYPE": "interactive",
    }
