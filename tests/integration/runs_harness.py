"""A whole stack in the test's event loop: scheduler, step runner, gateway,
on the session's real NATS and Postgres, with helpers to write projects and
wait for runs."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from orchest_gateway.service import build_definition as build_gateway
from orchest_gateway.settings import GatewaySettings
from orchest_scheduler.clock import Clock
from orchest_scheduler.definitions import DefinitionStore
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.runs import Runs
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_schemas.events import ANY_EVENT, AnyEvent, RunStatusChanged, SessionStatusChanged
from orchest_service.broker import ensure_streams, server_pool
from orchest_service.database import apply_migrations, create_pool
from orchest_session_manager.service import build_definition as build_session_manager
from orchest_session_manager.settings import SessionManagerSettings
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import free_port, running_service


@dataclass
class Stack:
    http: httpx.AsyncClient
    bus: BusNames
    nc: Client
    database_url: str
    jobs_dir: Path
    projects_dir: Path

    async def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post("/api/runs", json=body)
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run

    async def events(
        self, run_uuid: str, until_final: bool = True, timeout: float = 60
    ) -> list[AnyEvent]:
        """Every event of the run, in order, up to its end (from JetStream)."""
        js = self.nc.jetstream()
        found: list[AnyEvent] = []
        done = asyncio.Event()

        async def on_msg(msg: Any) -> None:
            event = ANY_EVENT.validate_json(msg.data)
            found.append(event)
            if isinstance(event, RunStatusChanged) and event.status.is_final:
                done.set()

        sub = await js.subscribe(
            self.bus.run_events(run_uuid),
            cb=on_msg,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        try:
            if until_final:
                await asyncio.wait_for(done.wait(), timeout)
        finally:
            await sub.unsubscribe()
        return found

    async def run_to_end(self, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        run = await self.start_run(body)
        await self.events(run["uuid"], timeout=timeout)
        response = await self.http.get(f"/api/runs/{run['uuid']}")
        assert response.status_code == 200
        final: dict[str, Any] = response.json()
        return final


class EventLog:
    """Every event on a subject filter, in stream order, as it arrives."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self._changed = asyncio.Condition()

    async def add(self, event: AnyEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[list[AnyEvent]], bool], timeout: float = 60, what: str = ""
    ) -> list[AnyEvent]:
        """Wait until ``predicate(events)`` holds; the events so far."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: predicate(self.events)), timeout
                )
            except TimeoutError:
                raise AssertionError(
                    f"not within {timeout}s: {what} ({len(self.events)} events)"
                ) from None
            return list(self.events)


def session_statuses(events: list[AnyEvent]) -> list[str]:
    """The statuses sessions went through, in order."""
    return [e.status.value for e in events if isinstance(e, SessionStatusChanged)]


async def session_reaches(log: EventLog, status: str, times: int = 1) -> list[AnyEvent]:
    """Wait until a session has gone to ``status`` ``times`` times; the events so far."""
    return await log.wait_for(
        lambda events: session_statuses(events).count(status) >= times,
        timeout=240,
        what=f"session {status} x{times}",
    )


@asynccontextmanager
async def event_log(stack: Stack, subject: str | None = None) -> AsyncIterator[EventLog]:
    """Collect the events of ``subject`` (default: all), from the stream's start."""
    log = EventLog()

    async def on_msg(msg: Any) -> None:
        await log.add(ANY_EVENT.validate_json(msg.data))

    sub = await stack.nc.jetstream().subscribe(
        subject or stack.bus.all_events,
        cb=on_msg,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    try:
        yield log
    finally:
        await sub.unsubscribe()


@asynccontextmanager
async def whole_stack(
    service_settings: Callable[..., Any],
    *,
    slots: int = 4,
    job_slots: int = 2,
    schedulers: int = 1,
    clock: Clock | None = None,
    sessions: dict[str, Any] | None = None,
    runner_overrides: dict[str, Any] | None = None,
    runner: bool = True,
    **scheduler_overrides: Any,
) -> AsyncIterator[Stack]:
    """Gateway, step runner and ``schedulers`` scheduler replicas (sharing
    ``clock`` for job schedules); job files under a temporary ``jobs_dir``.
    With ``sessions`` (settings overrides), a session manager too, its
    sessions' files under a temporary ``sessions_dir``. ``runner_overrides``
    are the step runner's settings overrides (e.g. ``executor="docker"``);
    ``runner=False`` starts none (the test starts and stops its own)."""
    gateway_settings: GatewaySettings = service_settings(GatewaySettings, port=free_port())
    runner_settings: RunnerSettings = service_settings(
        RunnerSettings,
        **{
            "slots": slots,
            "job_slots": job_slots,
            "heartbeat_seconds": 1.0,
            **(runner_overrides or {}),
        },
    )
    async with AsyncExitStack() as stack:
        jobs_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="orchest-jobs-")))
        scheduler_overrides.setdefault(
            "projects_dir",
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="orchest-projects-"))),
        )
        scheduler_settings: SchedulerSettings = service_settings(
            SchedulerSettings, jobs_dir=jobs_dir, **scheduler_overrides
        )
        for _ in range(schedulers):
            await stack.enter_async_context(
                running_service(build_scheduler(scheduler_settings, clock), scheduler_settings)
            )
        if sessions is not None:
            sessions_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="orchest-sessions-"))
            )
            manager_settings: SessionManagerSettings = service_settings(
                SessionManagerSettings, sessions_dir=sessions_dir, **sessions
            )
            await stack.enter_async_context(
                running_service(build_session_manager(manager_settings), manager_settings)
            )
        if runner:
            await stack.enter_async_context(
                running_service(build_runner(runner_settings), runner_settings)
            )
        await stack.enter_async_context(
            running_service(build_gateway(gateway_settings), gateway_settings)
        )
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_settings.port}", timeout=30.0)
        )
        import nats

        pool = server_pool(gateway_settings.nats_servers)  # the services' credentials, if any
        nc = await nats.connect(servers=pool.servers, user=pool.user, password=pool.password)
        stack.push_async_callback(nc.drain)
        yield Stack(
            http,
            gateway_settings.bus,
            nc,
            gateway_settings.database_url,
            jobs_dir,
            scheduler_settings.projects_dir,
        )


@dataclass
class Project:
    """A project directory and an Orchest pipeline definition over it."""

    root: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def step(
        self,
        key: str,
        file_path: str,
        content: str | None = None,
        parents: tuple[str, ...] = (),
        **extra: Any,
    ) -> str:
        if content is not None:
            path = self.root / file_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        self.steps[key] = {
            "uuid": key,
            "title": key.upper(),
            "file_path": file_path,
            "incoming_connections": list(parents),
            "environment": "",
            "kernel": {"name": "python", "display_name": "Python 3"},
            "parameters": {},
            "meta_data": {"hidden": False, "position": [0, 0]},
            **extra,
        }
        return key

    def definition(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": "test",
            "version": "1.0.0",
            "parameters": self.parameters,
            "settings": self.settings,
            "services": {},
            "steps": self.steps,
        }

    def body(
        self, run_type: str = "full", uuids: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "pipeline_definition": self.definition(),
            "run_type": run_type,
            "uuids": uuids or [],
            "run_config": {"project_dir": str(self.root)},
            **extra,
        }

    def job_body(self, name: str = "job", **extra: Any) -> dict[str, Any]:
        """The body of ``POST /api/jobs`` for this pipeline; ``extra`` adds to it."""
        return {
            "name": name,
            "pipeline_definition": self.definition(),
            "project_dir": str(self.root),
            **extra,
        }


def notebook(*cells: str, parameters_cell: str | None = None) -> str:
    """An nbformat 4 notebook of code cells (the first tagged ``parameters`` if given)."""
    out = []
    if parameters_cell is not None:
        out.append(_cell(parameters_cell, ["parameters"]))
    out += [_cell(source, []) for source in cells]
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "cells": out,
        }
    )


def _cell(source: str, tags: list[str]) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "id": uuid.uuid4().hex[:8],
        "metadata": {"tags": tags},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


@asynccontextmanager
async def run_handling(
    database_url: str, nc: Client, bus: BusNames, store: DefinitionStore | None = None
) -> AsyncIterator[Runs]:
    """The scheduler's run handling as one replica has it (its own cache,
    timers and publisher), without the rest of the service; ``store``: the
    definitions store it uses (a fresh one by default)."""
    pool = await create_pool(database_url, min_size=1, max_size=4, schema="scheduler")
    await apply_migrations(pool, "scheduler", "orchest_scheduler.migrations")
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    outbox = Outbox(pool, nc, js)
    stop = asyncio.Event()
    publisher = asyncio.create_task(outbox.run(stop))
    store = store or DefinitionStore(js, bus.definitions_bucket, 3600)
    runs = Runs(pool, bus, outbox, store)
    try:
        yield runs
    finally:
        runs.close()
        stop.set()
        await publisher
        await pool.close()


def chain_command(
    folder: Path, steps: int, pipeline: str = "p-chain", env: dict[str, str] | None = None
) -> CreateRun:
    """A ``CreateRun`` of ``steps`` steps ``s0``, ``s1``, ... run one after the
    other, each ``s.sh`` (``true``, written into ``folder``, the project)."""
    (folder / "s.sh").write_text("true\n")
    run_config: dict[str, Any] = {"project_dir": str(folder)}
    if env is not None:
        run_config["env_variables"] = env
    return CreateRun.model_validate(
        {
            "pipeline_definition": {
                "uuid": pipeline,
                "steps": {
                    f"s{i}": {
                        "uuid": f"s{i}",
                        "title": f"S{i}",
                        "file_path": "s.sh",
                        "incoming_connections": [f"s{i - 1}"] if i else [],
                    }
                    for i in range(steps)
                },
            },
            "run_config": run_config,
        }
    )
