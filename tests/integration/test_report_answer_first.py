"""A report's answer leaves the scheduler the moment the decision's commit
returns: before its connection goes back to the pool, before its messages
are handed to the outbox's publisher, before any bookkeeping. Never before
the commit (the answer may hand a step over: its grant must be durable).

The scheduler runs in this process on the real NATS and Postgres; the test
plays the runner on the bus and records, in order, the commit's return, the
answer's publication and its write to the socket, and what the mailbox does
after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from integration.runs_harness import chain_command, run_handling
from nats.aio.client import Client as NatsClient
from nats.aio.transport import TcpTransport
from test_hand_off_restart import chain, run_with_a_claimed, succeeded

from orchest_scheduler import engine, mailbox
from orchest_scheduler.outbox import Outbox
from orchest_scheduler.run_state import Plan, RunState
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_scheduler.settings import SchedulerSettings
from orchest_schemas.bus import BusNames
from orchest_schemas.reports import ReportAnswer
from orchest_service.commands import request_command


@pytest.fixture
def order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: ``committed`` (a decision's statement
    returned), ``answer`` (an answer handing work over was published),
    ``written`` (its bytes written to the NATS connection's socket),
    ``released`` (a pool connection went back), ``published`` (a write's
    messages went to the outbox's publisher)."""
    seen: list[str] = []
    write_plan = mailbox.write_plan
    publish = NatsClient.publish
    release = asyncpg.Pool.release
    committed = Outbox.committed
    writelines = TcpTransport.writelines

    async def written(*args: Any, **kwargs: Any) -> Any:
        ids = await write_plan(*args, **kwargs)
        seen.append("committed")
        return ids

    async def published(
        self: NatsClient, subject: str, payload: bytes = b"", *args: Any, **kw: Any
    ) -> None:
        if subject.startswith("_INBOX.") and b'"work":{' in payload:
            seen.append("answer")
        await publish(self, subject, payload, *args, **kw)

    async def released(self: asyncpg.Pool, connection: Any, **kw: Any) -> None:
        seen.append("released")
        await release(self, connection, **kw)

    def written_out(self: TcpTransport, payload: list[bytes]) -> Any:
        if any(b'"work":{' in part and b"_INBOX." in part for part in payload):
            seen.append("written")
        return writelines(self, payload)

    def handed(self: Outbox, ids: Any, messages: Any) -> None:
        if ids:
            seen.append("published")
        committed(self, ids, messages)

    monkeypatch.setattr(mailbox, "write_plan", written)
    monkeypatch.setattr(NatsClient, "publish", published)
    monkeypatch.setattr(asyncpg.Pool, "release", released)
    monkeypatch.setattr(Outbox, "committed", handed)
    monkeypatch.setattr(TcpTransport, "writelines", written_out)
    return seen


async def test_a_report_is_answered_as_its_commit_returns(
    nc: Any,
    bus: BusNames,
    tmp_path: Path,
    service_settings: Callable[..., Any],
    service_runner: Any,
    order: list[str],
) -> None:
    project = chain(tmp_path, "a", "b", "c")
    settings = service_settings(SchedulerSettings, projects_dir=tmp_path / "projects")
    async with service_runner(build_scheduler(settings), settings):
        run = await run_with_a_claimed(nc, bus, project)
        for step, handed in (("a", "b"), ("b", "c")):
            order.clear()
            answer = await request_command(
                nc, bus.report_step, succeeded(run.uuid, step), ReportAnswer
            )
            assert answer.work is not None and answer.work.step_uuid == handed
            # Written in the commit's turn of the loop, not by the client's
            # flusher on a later one; the decision's events and the
            # connection's return come after.
            # (Other tasks' connections may go back to the pool before the
            # commit: the outbox deletes what it published.)
            after = order[order.index("committed") :]
            assert after[:3] == ["committed", "answer", "written"], order
            assert {"released", "published"} <= set(after[3:]), order


async def test_an_asker_gone_does_not_fail_the_others_of_its_batch(
    database_url: str, nc: Any, bus: BusNames, tmp_path: Path
) -> None:
    """The futures of a batch are resolved inside the write's connection
    block now: one whose asker is gone (cancelled) must not turn the
    committed write into a failed one (its backend fenced, the batch's other
    inputs failed)."""

    def claim(state: RunState) -> tuple[Any, Plan]:
        return engine.claim(state, "s0", 1, "r", False, 30.0)

    async with run_handling(database_url, nc, bus) as runs:
        run = await runs.create(chain_command(tmp_path, 2))
        gone = runs._mail.submit(run.uuid, claim)
        kept = runs._mail.submit(run.uuid, claim)  # the same batch: queued in this turn
        gone.cancel()
        decision = await asyncio.wait_for(kept, 10)
        assert decision.granted, decision
        view = await runs.view(run.uuid)
        assert view is not None
        assert [s.status for s in view.pipeline_steps] == ["STARTED", "PENDING"], view
