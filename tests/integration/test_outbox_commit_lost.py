"""The outbox when a commit's reply never reaches the scheduler: the messages
of that commit (step work, events) are published anyway, promptly, by the
same scheduler, with no restart.

The scheduler reaches Postgres through ``pg_cut.CommitCutter``, a proxy that
breaks its connection around the commit of the next statement writing the
outbox: after the commit (the reply is lost) or before it (the scheduler
gives up on the transaction, which must then never commit).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pg_cut import CommitCutter
from runs_harness import EventLog, Project, Stack, event_log, whole_stack

from orchest_cli.embedded import EmbeddedPostgres
from orchest_schemas.events import AnyEvent, RunStatusChanged, StepStatusChanged

PROMPT = 5.0
"""Seconds within which the lost commit's first message must be published
(under load; measured in milliseconds when the machine is idle)."""


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{parts.hostname}:{port}"))


@pytest.fixture
async def cutter(postgres_server: EmbeddedPostgres) -> AsyncIterator[CommitCutter]:
    proxy = CommitCutter(postgres_server.port, marker=b"INSERT INTO outbox")
    async with proxy.serving():
        yield proxy


@pytest.fixture
async def stack(
    service_settings: Callable[..., Any], database_url: str, cutter: CommitCutter
) -> AsyncIterator[Stack]:
    """The whole stack; only the scheduler goes through the proxy."""
    async with whole_stack(service_settings, database_url=via(database_url, cutter.port)) as s:
        yield s


def of_pipeline(project: Project) -> Callable[[list[AnyEvent]], list[AnyEvent]]:
    return lambda events: [e for e in events if getattr(e, "pipeline_uuid", None) == project.uuid]


def run_ended(project: Project) -> Callable[[list[AnyEvent]], bool]:
    mine = of_pipeline(project)
    return lambda events: any(
        isinstance(e, RunStatusChanged) and e.status.is_final for e in mine(events)
    )


def assert_the_one_run_succeeded(
    events: list[AnyEvent], project: Project, created: dict[str, Any]
) -> None:
    """The project's events are all of the run the key answered, and it succeeded."""
    mine = of_pipeline(project)(events)
    assert {e.run_uuid for e in mine} == {created["uuid"]}
    assert [e.status for e in mine if isinstance(e, RunStatusChanged)][-1] == "SUCCESS"


async def post_until_created(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """POST the run until it is answered 201 (a lost reply makes the first a 5xx)."""
    for _ in range(5):
        response = await stack.http.post("/api/runs", json=body)
        if response.status_code == 201:
            created: dict[str, Any] = response.json()
            return created
        assert response.status_code >= 500, response.text
    raise AssertionError(f"not created: {response.status_code} {response.text}")


async def first_message_after_cut(
    cutter: CommitCutter, log: EventLog, project: Project, what: str
) -> float:
    """Seconds from the cut to the first event of the project's run."""
    await asyncio.wait_for(cutter.cut.wait(), 30)
    cut_at = asyncio.get_running_loop().time()
    await log.wait_for(lambda events: bool(of_pipeline(project)(events)), PROMPT, what)
    return asyncio.get_running_loop().time() - cut_at


async def test_run_whose_create_reply_is_lost_starts_at_once(
    stack: Stack, cutter: CommitCutter, project: Project
) -> None:
    project.step("a", "a.sh", "echo a\n")
    project.step("b", "b.sh", "echo b\n", ("a",))
    body = project.body(idempotency_key="lost-reply")
    async with event_log(stack) as log:
        cutter.arm("after-commit")
        posting = asyncio.create_task(post_until_created(stack, body))
        delay = await first_message_after_cut(cutter, log, project, "the created run's events")
        assert cutter.committed.is_set()
        created = await posting  # the key's retry answers the run the lost commit made
        events = await log.wait_for(run_ended(project), 60, "the run's end")
    assert_the_one_run_succeeded(events, project, created)
    print(f"lost create reply: first event {delay * 1000:.1f} ms after the cut")


async def test_a_write_cut_before_its_commit_never_commits(
    stack: Stack, cutter: CommitCutter, project: Project, database_url: str
) -> None:
    """The scheduler gives up on a write whose connection broke before the
    commit; before it answers, the backend that held the transaction is
    terminated (fenced), so the commit cannot land later: the run does not
    exist until the key's retry creates it, once."""
    project.step("a", "a.sh", "echo a\n")
    body = project.body(idempotency_key="late-commit")
    async with event_log(stack) as log:
        cutter.arm("before-commit")
        first = await stack.http.post("/api/runs", json=body)
        assert first.status_code >= 500, first.text
        assert cutter.cut.is_set() and not cutter.committed.is_set()
        # Answered only once the transaction's backend is gone.
        await asyncio.wait_for(cutter.server_gone.wait(), PROMPT)
        cutter.release()  # the held Sync reaches nobody
        conn = await asyncpg.connect(database_url)
        try:
            count = "SELECT count(*) FROM scheduler.runs WHERE pipeline_uuid = $1"
            assert await conn.fetchval(count, project.uuid) == 0
        finally:
            await conn.close()
        created = await post_until_created(stack, body)
        events = await log.wait_for(run_ended(project), 60, "the run's end")
    assert not cutter.committed.is_set()
    assert_the_one_run_succeeded(events, project, created)


async def test_step_work_of_a_report_whose_reply_is_lost_is_sent(
    stack: Stack, cutter: CommitCutter, project: Project
) -> None:
    """The write applying a's report (a ended, b dispatched) loses its reply: the
    report is delivered again, finds it applied, and decides nothing; b's work
    and the events go out from the outbox all the same."""
    gate = project.root / "gate"
    os.mkfifo(gate)
    project.step("a", "a.sh", f'read line < "{gate}"\necho a\n')
    project.step("b", "b.sh", "echo b\n", ("a",))
    async with event_log(stack) as log:
        created = await stack.start_run(project.body())
        await log.wait_for(
            lambda events: any(
                isinstance(e, StepStatusChanged) and e.step_uuid == "a" and e.status == "STARTED"
                for e in of_pipeline(project)(events)
            ),
            60,
            "a started",
        )
        cutter.arm("after-commit")
        await asyncio.to_thread(gate.write_text, "go\n")  # a ends; its report is written
        await asyncio.wait_for(cutter.cut.wait(), 30)
        cut_at = asyncio.get_running_loop().time()
        await log.wait_for(
            lambda events: any(
                isinstance(e, StepStatusChanged) and e.step_uuid == "a" and e.status == "SUCCESS"
                for e in of_pipeline(project)(events)
            ),
            PROMPT,
            "a's SUCCESS, written by the commit whose reply was lost",
        )
        delay = asyncio.get_running_loop().time() - cut_at
        events = await log.wait_for(run_ended(project), 60, "the run's end")
    mine = [e for e in of_pipeline(project)(events) if e.run_uuid == created["uuid"]]
    ended = {e.step_uuid: e.status for e in mine if isinstance(e, StepStatusChanged)}
    assert ended == {"a": "SUCCESS", "b": "SUCCESS"}
    assert [e.status for e in mine if isinstance(e, RunStatusChanged)][-1] == "SUCCESS"
    print(f"lost report reply: a's SUCCESS {delay * 1000:.1f} ms after the cut")


async def test_a_run_s_writes_notify_nobody(
    stack: Stack, project: Project, database_url: str
) -> None:
    """No write of a run queues a notification (a NOTIFY costs each commit a
    global lock and wakes a listening backend and the scheduler): the fence
    above, not a listener, covers the commits whose reply is lost."""
    project.step("a", "a.sh", "echo a\n")
    project.step("b", "b.sh", "echo b\n", ("a",))
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.add_listener("scheduler.outbox", lambda *args: heard.put_nowait(args[3]))
        async with event_log(stack) as log:
            await stack.start_run(project.body())
            await log.wait_for(run_ended(project), 60, "the run's end")
        # Notifications arrive in commit order: one committed now comes after
        # any the run's writes queued.
        await conn.execute("SELECT pg_notify('scheduler.outbox', 'sentinel')")
        assert await asyncio.wait_for(heard.get(), 10) == "sentinel"
    finally:
        await conn.close()
