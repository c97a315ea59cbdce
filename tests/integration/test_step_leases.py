"""A granted attempt always ends: what used to leave a step ``STARTED`` for
good, on the whole stack (real NATS and Postgres).

- the frozen definition expired from its object store (short TTL) before a
  step of the run, or a later run of the same pipeline, was dispatched;
- a report larger than NATS's ``max_payload`` (a notebook's error);
- an aborted run whose cancel (core NATS) the runner missed, cut off from
  NATS by a proxy at that moment: the heartbeat's answer stops the step.

A runner that stops heartbeating (SIGSTOP) is in ``tests/faults``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from nats.js.errors import ObjectNotFoundError
from runs_harness import Project, Stack, event_log, notebook, whole_stack

from orchest_schemas.events import RunStatusChanged, StepStatusChanged
from orchest_schemas.reports import (
    AttemptRef,
    ClaimStep,
    HeartbeatAnswer,
    RunnerHeartbeat,
    StepClaim,
)
from orchest_schemas.status import StepStatus
from orchest_service.broker import ensure_object_store
from orchest_service.commands import request_command
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import eventually, free_port, running_service

TTL = 2.0
"""The object stores' TTL in the expiry test (seconds)."""


def wait_for_file(path: Path) -> str:
    """Shell lines that block until ``path`` exists (the test creates it)."""
    return f'while [ ! -e "{path}" ]; do sleep 0.05; done\n'  # wait-ok: the step's own wait


async def definition_gone(stack: Stack, key: str) -> None:
    """Wait until the definitions bucket no longer holds ``key`` (its TTL passed)."""
    js = stack.nc.jetstream()
    store = await ensure_object_store(js, stack.bus.definitions_bucket, TTL)

    async def gone() -> bool | None:
        try:
            await store.get_info(key)
        except ObjectNotFoundError:
            return True
        return None

    await eventually(gone, timeout=30, what=f"definition {key} expired")


async def test_a_run_outlives_its_definitions_ttl(
    service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """Each runner caches definitions, so each part of the run that must fetch
    an expired one goes to a runner started after it expired."""
    go = tmp_path / "go"
    project = Project(tmp_path / "project")
    project.step("a", "a.sh", wait_for_file(go))
    project.step("b", "b.sh", "echo b\n", ("a",))
    ttl = {"artifacts_ttl_seconds": TTL}
    runner_settings = service_settings(RunnerSettings, heartbeat_seconds=1.0, **ttl)

    def runner() -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return running_service(build_runner(runner_settings), runner_settings)

    async with whole_stack(service_settings, runner=False, **ttl) as stack:
        async with runner() as first_runner:
            first = await stack.start_run(project.body())
            async with event_log(stack, stack.bus.run_events(first["uuid"])) as log:
                await log.wait_for(_started("a"), what="step a started")
                key = await _definition_key(stack, first["uuid"])
                await definition_gone(stack, key)
                async with runner():
                    first_runner.set()  # it drains: a ends there, b goes to the new runner
                    go.touch()  # b is dispatched after its definition expired
                    await log.wait_for(_ended, timeout=60, what="the first run ended")
        run = (await stack.http.get(f"/api/runs/{first['uuid']}")).json()
        assert run["status"] == "SUCCESS", run

        await definition_gone(stack, key)  # expired again: a new run of the same pipeline
        async with runner():
            second = await stack.run_to_end(project.body(), timeout=60)
        assert second["status"] == "SUCCESS", second
        assert await _definition_key(stack, second["uuid"]) == key


async def test_a_definition_gone_from_under_a_granted_attempt_fails_it(
    service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """Whatever fails after a granted claim is reported: here the definition is
    deleted while the scheduler still trusts it is stored (the TTL is long),
    and the runner that takes ``b`` has none cached."""
    go = tmp_path / "go"
    ledger = tmp_path / "ledger"
    project = Project(tmp_path / "project")
    project.step("a", "a.sh", wait_for_file(go))
    project.step("b", "b.sh", f'echo b >> "{ledger}"\n', ("a",))
    project.step("c", "c.sh", "echo c\n", ("b",))
    runner_settings = service_settings(RunnerSettings, heartbeat_seconds=1.0)

    def runner() -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
        return running_service(build_runner(runner_settings), runner_settings)

    async with whole_stack(service_settings, runner=False) as stack:
        async with runner() as first_runner:
            created = await stack.start_run(project.body())
            async with event_log(stack, stack.bus.run_events(created["uuid"])) as log:
                await log.wait_for(_started("a"), what="step a started")
                key = await _definition_key(stack, created["uuid"])
                js = stack.nc.jetstream()
                store = await ensure_object_store(js, stack.bus.definitions_bucket, 3600)
                await store.delete(key)
                async with runner():
                    first_runner.set()  # it drains: b goes to the new runner
                    go.touch()
                    await log.wait_for(_ended, timeout=60, what="the run ended")
        run = (await stack.http.get(f"/api/runs/{created['uuid']}")).json()
        assert run["status"] == "FAILURE", run
        a, b, c = run["pipeline_steps"]
        assert (a["status"], b["status"], b["attempt"], c["status"]) == (
            "SUCCESS",
            "FAILURE",
            1,
            "ABORTED",
        )
        assert b["error"].startswith("runner error: ObjectNotFoundError"), b["error"]
        assert not ledger.exists()  # b never ran


async def test_an_error_over_max_payload_fails_the_step_once_with_it_truncated(
    service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    project = Project(tmp_path / "project")
    async with whole_stack(service_settings) as stack:
        size = stack.nc.max_payload * 2
        project.step(
            "big",
            "big.ipynb",
            notebook(
                f"open({str(ledger)!r}, 'a').write('ran\\n')",
                f"raise ValueError('x' * {size})",
            ),
        )
        project.step("after", "after.sh", "echo after\n", ("big",))
        run = await stack.run_to_end(project.body(), timeout=120)
        assert run["status"] == "FAILURE", run
        big, after = run["pipeline_steps"]
        assert (big["status"], big["attempt"], after["status"]) == ("FAILURE", 1, "ABORTED")
        error: str = big["error"]
        assert error.startswith("ValueError: xxxx"), error[:200]
        assert error.endswith(" more bytes; the whole output is in the step's log]")
        assert len(error.encode()) <= 64 * 1024
        assert "... [truncated: " in error
        assert ledger.read_text() == "ran\n"  # executed exactly once
        logs = await stack.http.get(f"/api/runs/{run['uuid']}/steps/big/logs")
        assert logs.status_code == 200
        assert "x" * size in logs.text  # the whole error is in the step's log


class NatsProxy:
    """A TCP proxy in front of NATS on loopback whose connections the test can cut."""

    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self._upstream_port = upstream_port
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def __aenter__(self) -> NatsProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def cut(self) -> None:
        """Close every connection and refuse new ones until ``restore``."""
        self._open = False
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self._open = True

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink, {writer, up_writer}))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: set[asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in pair:
                writer.close()
                self._writers.discard(writer)


async def test_an_aborted_run_whose_cancel_the_runner_missed_stops_by_the_heartbeat(
    service_settings: Callable[..., Any], nats_server: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "step.pid"
    project = Project(tmp_path / "project")
    project.step("s", "s.sh", f'echo $$ > "{pid_file}"\nexec sleep 300\n')  # wait-ok: killed
    heartbeat = 1.0
    async with (
        NatsProxy(nats_server.port) as proxy,
        whole_stack(
            service_settings,
            runner_overrides={"nats_url": proxy.url, "heartbeat_seconds": heartbeat},
        ) as stack,
    ):
        created = await stack.start_run(project.body())
        run_uuid = created["uuid"]

        async def pid_written() -> int | None:
            text = pid_file.read_text() if pid_file.exists() else ""
            return int(text) if text.strip() else None

        pid = await eventually(pid_written, timeout=30, what="the step wrote its pid")
        cancels: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_cancel(msg: Any) -> None:
            await cancels.put(msg.data)

        seen = await stack.nc.subscribe(stack.bus.cancel_step(run_uuid, "s"), cb=on_cancel)
        proxy.cut()  # the runner is cut off from NATS while the run is aborted
        response = await stack.http.delete(f"/api/runs/{run_uuid}")
        assert response.status_code == 200 and response.json()["status"] == "ABORTED"
        await asyncio.wait_for(cancels.get(), 10)  # the cancel went out, and was missed
        await seen.unsubscribe()
        assert psutil.pid_exists(pid)
        loop = asyncio.get_running_loop()
        restored = loop.time()
        proxy.restore()
        await _gone(pid, within=10 * heartbeat + 5)
        stopped_after = loop.time() - restored
        print(f"step stopped {stopped_after:.2f} s after the runner could reach NATS again")
        run = (await stack.http.get(f"/api/runs/{run_uuid}")).json()
        assert run["status"] == "ABORTED"


def _started(step: str) -> Callable[[list[Any]], bool]:
    def started(events: list[Any]) -> bool:
        return any(
            isinstance(e, StepStatusChanged)
            and e.step_uuid == step
            and e.status is StepStatus.STARTED
            for e in events
        )

    return started


def _ended(events: list[Any]) -> bool:
    return any(isinstance(e, RunStatusChanged) and e.status.is_final for e in events)


async def _definition_key(stack: Stack, run_uuid: str) -> str:
    conn = await asyncpg.connect(stack.database_url)
    try:
        key: str = await conn.fetchval(
            "SELECT definition_key FROM scheduler.runs WHERE uuid = $1", run_uuid
        )
        return key
    finally:
        await conn.close()


async def _gone(pid: int, within: float) -> None:
    async def dead() -> bool | None:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return None
        return True

    await eventually(dead, timeout=within, what=f"process {pid} gone")


async def test_heartbeats_renew_leases_and_two_sweeping_replicas_end_a_lapsed_one_once(
    service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """No runner: the test claims and heartbeats as one, on two scheduler replicas."""
    project = Project(tmp_path / "project")
    project.step("a", "a.sh", "echo a\n")
    async with whole_stack(
        service_settings, runner=False, schedulers=2, lease_sweep_seconds=0.2
    ) as stack:
        created = await stack.start_run(project.body())
        run = created["uuid"]

        async def claim(runner: str, attempt: int) -> StepClaim:
            return await request_command(
                stack.nc,
                stack.bus.claim_step,
                ClaimStep(
                    run_uuid=run,
                    step_uuid="a",
                    attempt=attempt,
                    runner_id=runner,
                    lease_seconds=1.0,
                ),
                StepClaim,
            )

        async def beat(runner: str, *attempts: tuple[str, int]) -> dict[tuple[str, int], bool]:
            answer = await request_command(
                stack.nc,
                stack.bus.step_heartbeat,
                RunnerHeartbeat(
                    runner_id=runner,
                    lease_seconds=1.0,
                    attempts=[
                        AttemptRef(run_uuid=run, step_uuid=step, attempt=n) for step, n in attempts
                    ],
                ),
                HeartbeatAnswer,
            )
            return {(a.step_uuid, a.attempt): a.current for a in answer.attempts}

        async with event_log(stack, stack.bus.run_events(run)) as log:
            assert (await claim("r1", 1)).granted
            before = await _lease(stack, run)
            # Beats within the lease keep the attempt: 3 s of a 1 s lease.
            loop = asyncio.get_running_loop()
            until = loop.time() + 3
            while loop.time() < until:
                answer = await beat("r1", ("a", 1), ("a", 2), ("nope", 1))
                assert answer == {("a", 1): True, ("a", 2): False, ("nope", 1): False}
                await asyncio.sleep(0.3)  # wait-ok: the runner's heartbeat interval
            assert await _lease(stack, run) > before
            assert await beat("r2", ("a", 1)) == {("a", 1): False}  # not its attempt
            # r1 stops beating: a sweep ends attempt 1, attempt 2 is new work.
            events = await log.wait_for(
                lambda events: any(
                    isinstance(e, StepStatusChanged) and e.attempt == 2 for e in events
                ),
                timeout=30,
                what="attempt 2 dispatched",
            )
            pending = [e for e in events if isinstance(e, StepStatusChanged) and e.attempt == 2]
            assert pending[0].status is StepStatus.PENDING
            assert pending[0].error == "attempt 1 lost its runner (no heartbeat within its lease)"
            assert await beat("r1", ("a", 1)) == {("a", 1): False}  # r1 would stop it now
            assert not (await claim("r3", 1)).granted  # the old work message is stale
            assert (await claim("r2", 2)).granted
            assert await beat("r2", ("a", 2)) == {("a", 2): True}
        conn = await asyncpg.connect(stack.database_url)
        try:
            lost = await conn.fetchval(
                "SELECT lost_leases FROM scheduler.run_steps WHERE run_uuid = $1", run
            )
        finally:
            await conn.close()
        assert lost == 1  # both replicas sweep: counted once


async def _lease(stack: Stack, run_uuid: str) -> Any:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetchval(
            "SELECT lease_expires_at FROM scheduler.run_steps WHERE run_uuid = $1", run_uuid
        )
    finally:
        await conn.close()
