"""NATS users (``orchest up``'s generated config, ``NatsUsers``) on a real
nats-server: the services run a whole stack as ``services``; ``ui`` receives
status events and can do nothing else (no command, no step work, report,
event or JetStream request; no other subscription); anonymous connections
and wrong passwords are refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from runs_harness import Project, Stack, notebook, whole_stack
from sse_client import frames

from orchest_cli.embedded import SERVICES_USER, UI_USER, EmbeddedNats, NatsUsers
from orchest_cli.statedir import StateDir
from orchest_cli.supervisor import StackInfo, _service_env
from orchest_schemas.bus import BusNames, Priority
from orchest_schemas.events import ANY_EVENT, RunStatusChanged
from orchest_service import broker
from orchest_service.errors import DependencyUnavailable
from orchest_service.settings import ServiceSettings

PREFIX = f"t{uuid4().hex[:12]}"
BUS = BusNames(PREFIX)


@pytest.fixture(scope="module")
async def users_nats() -> AsyncIterator[tuple[EmbeddedNats, NatsUsers]]:
    """A nats-server of its own, admitting only the users of ``PREFIX``."""
    with tempfile.TemporaryDirectory(prefix="orchest-test-nats-users-") as tmp:
        root = Path(tmp)
        users = NatsUsers.load_or_generate(root / "secrets" / "nats-users.json", PREFIX)
        async with EmbeddedNats(root / "store", root / "nats.log", users=users) as server:
            yield server, users


@pytest.fixture
async def stack(
    users_nats: tuple[EmbeddedNats, NatsUsers], database_url: str
) -> AsyncIterator[Stack]:
    """Scheduler, step runner, session manager and gateway, as ``services``."""
    server, users = users_nats

    def build(cls: type[ServiceSettings] = ServiceSettings, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "nats_url": server.url,
            "nats_user": SERVICES_USER,
            "nats_password": users.services_password,
            "database_url": database_url,
            "bus_prefix": PREFIX,
            "connect_wait_seconds": 5.0,
            "drain_timeout_seconds": 5.0,
            **overrides,
        }
        return cls(**values)

    async with whole_stack(build, sessions={}) as s:
        yield s


class Violations:
    """The permission errors the server sent one connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Condition()

    async def on_error(self, exc: Exception) -> None:
        async with self.changed:
            self.seen.append(str(exc).lower())
            self.changed.notify_all()

    def of(self, kind: str, subject: str) -> bool:
        return any(
            "permissions violation" in e and kind in e and subject.lower() in e for e in self.seen
        )


@contextlib.asynccontextmanager
async def ui_client(
    server: EmbeddedNats, users: NatsUsers
) -> AsyncIterator[tuple[Client, Violations]]:
    violations = Violations()
    client = await nats.connect(
        server.url,
        user=UI_USER,
        password=users.ui_password,
        error_cb=violations.on_error,
        allow_reconnect=False,
    )
    try:
        yield client, violations
    finally:
        await client.close()


async def refused(violations: Violations, kind: str, subject: str) -> None:
    """Wait for the server's permission error on ``subject``."""
    try:
        async with violations.changed:
            await asyncio.wait_for(
                violations.changed.wait_for(lambda: violations.of(kind, subject)), 2.0
            )
    except TimeoutError:
        raise AssertionError(f"no {kind} violation for {subject}: {violations.seen}") from None


def one_step(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    project.step("a", "a.py", "print('hi')\n")
    return project


async def count_runs(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM scheduler.runs")
        return count
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def everything_on_the_prefix(stack: Stack) -> AsyncIterator[list[Msg]]:
    """Every message on ``<p>.>`` meanwhile, as the services see them."""
    seen: list[Msg] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(msg)

    sub = await stack.nc.subscribe(f"{PREFIX}.>", cb=on_msg)
    await stack.nc.flush()
    try:
        yield seen
    finally:
        await sub.unsubscribe()


async def sse_events(stack: Stack, run_uuid: str) -> list[str]:
    """The run's events through the gateway's SSE (replayed from the stream)."""
    names: list[str] = []
    async with stack.http.stream(
        "GET", "/api/events", params={"run_uuid": run_uuid, "replay": "true"}
    ) as response:
        async for frame in frames(response):
            names.append(frame.data)
            if frame.event == "run_status_changed" and '"SUCCESS"' in frame.data:
                return names
    return names


async def test_a_run_completes_as_services_and_the_ui_receives_its_events(
    stack: Stack, users_nats: tuple[EmbeddedNats, NatsUsers], tmp_path: Path
) -> None:
    """Everything the services do on the bus works as ``services``: commands,
    step work, reports, events, logs, both object stores (definition, executed
    notebook), discovery (health), the gateway's ordered consumers (SSE, logs)."""
    server, users = users_nats
    project = Project(tmp_path)
    project.step("nb", "nb.ipynb", notebook("print('hello', 6 * 7)"))
    project.step("s", "s.py", "print('after')\n", parents=("nb",))
    async with ui_client(server, users) as (ui, violations):
        received: list[Any] = []
        done = asyncio.Event()

        async def on_event(msg: Msg) -> None:
            event = ANY_EVENT.validate_json(msg.data)
            received.append(event)
            if isinstance(event, RunStatusChanged) and event.status.is_final:
                done.set()

        await ui.subscribe(BUS.all_events, cb=on_event)
        await ui.flush()
        final = await stack.run_to_end(project.body())
        assert final["status"] == "SUCCESS", final
        await asyncio.wait_for(done.wait(), 10)
        stored = await stack.events(final["uuid"])
        assert [e.event_id for e in received] == [e.event_id for e in stored]
        assert violations.seen == []
    health = await stack.http.get("/api/health")
    assert health.status_code == 200, health.text
    logs = await stack.http.get(f"/api/runs/{final['uuid']}/steps/nb/logs")
    assert "hello 42" in logs.text
    artifact = await stack.http.get(f"/api/runs/{final['uuid']}/steps/nb/artifacts/executed.ipynb")
    assert artifact.status_code == 200 and "hello 42" in artifact.text
    sse = await asyncio.wait_for(sse_events(stack, final["uuid"]), 30)
    assert len(sse) == len(stored)
    await work_queues_emptied(stack)  # step work and reports were acked


async def work_queues_emptied(stack: Stack) -> None:
    js = stack.nc.jetstream()
    for _ in range(100):
        left = [
            (await js.stream_info(s.name)).state.messages
            for s in (BUS.steps_stream, BUS.reports_stream)
        ]
        if left == [0, 0]:
            return
        await asyncio.sleep(0.05)  # wait-ok: a probe of stream state nothing announces
    raise AssertionError(f"unacked step work / reports: {left}")


async def test_the_ui_user_cannot_send_a_command(
    stack: Stack, users_nats: tuple[EmbeddedNats, NatsUsers], tmp_path: Path
) -> None:
    server, users = users_nats
    body = one_step(tmp_path).body()
    command = json.dumps(
        {
            "pipeline_definition": body["pipeline_definition"],
            "run_type": "full",
            "run_config": body["run_config"],
        }
    ).encode()
    async with (
        everything_on_the_prefix(stack) as seen,
        ui_client(server, users) as (ui, violations),
    ):
        with pytest.raises(nats.errors.TimeoutError):
            await ui.request(BUS.create_run, command, timeout=1)
        await refused(violations, "publish", BUS.create_run)
    assert seen == []
    assert await count_runs(stack) == 0


async def test_the_ui_user_cannot_publish_anything_else(
    stack: Stack, users_nats: tuple[EmbeddedNats, NatsUsers]
) -> None:
    server, users = users_nats
    run, step = str(uuid4()), str(uuid4())
    subjects = [
        BUS.abort_run,
        BUS.claim_step,
        BUS.cancel_job,
        BUS.stop_session,
        BUS.step_work(Priority.INTERACTIVE),
        BUS.step_work(Priority.JOB),
        BUS.step_report(run, step),
        BUS.run_event(str(uuid4()), run),
        BUS.step_log(run, step),
        BUS.cancel_step(run, step),
        "$SRV.INFO",
        f"$JS.API.STREAM.INFO.{BUS.events_stream.name}",
        f"$JS.API.STREAM.DELETE.{BUS.events_stream.name}",
        f"$JS.API.CONSUMER.CREATE.{BUS.events_stream.name}",
        f"$O.{BUS.artifacts_bucket}.M.x",
    ]
    async with (
        everything_on_the_prefix(stack) as seen,
        ui_client(server, users) as (ui, violations),
    ):
        for subject in subjects:
            await ui.publish(subject, b'{"run_uuid": "' + run.encode() + b'"}')
        await ui.flush()
        for subject in subjects:
            await refused(violations, "publish", subject)
    assert seen == []
    info = await stack.nc.jetstream().stream_info(BUS.events_stream.name)
    assert info.config.name == BUS.events_stream.name  # still there


async def test_the_ui_user_cannot_read_commands_logs_or_replies_nor_use_jetstream(
    users_nats: tuple[EmbeddedNats, NatsUsers],
) -> None:
    server, users = users_nats
    forbidden = [
        f"{PREFIX}.cmd.v1.>",
        f"{PREFIX}.logs.v1.>",
        f"{PREFIX}.reports.v1.>",
        f"{PREFIX}.steps.v1.>",
        f"{PREFIX}.control.v1.>",
        "_INBOX.>",
        "$SRV.>",
        ">",
    ]
    async with ui_client(server, users) as (ui, violations):
        for subject in forbidden:
            await ui.subscribe(subject)
        await ui.flush()
        for subject in forbidden:
            await refused(violations, "subscription", subject)
        # A consumer would deliver to whatever subject its creator names (a
        # command's), so the ui user may not create one, nor read the stream.
        with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
            await ui.jetstream(timeout=1).add_consumer(
                BUS.events_stream.name,
                ConsumerConfig(deliver_subject=BUS.abort_run, deliver_policy=DeliverPolicy.ALL),
            )
        await refused(violations, "publish", f"$JS.API.CONSUMER.CREATE.{BUS.events_stream.name}")


async def test_anonymous_and_wrong_credentials_are_refused(
    users_nats: tuple[EmbeddedNats, NatsUsers],
) -> None:
    server, users = users_nats
    attempts: list[Callable[[], Awaitable[Client]]] = [
        lambda: nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0),
        lambda: nats.connect(server.url, user=UI_USER, password="wrong", allow_reconnect=False),
        lambda: nats.connect(
            server.url, user=SERVICES_USER, password=users.ui_password, allow_reconnect=False
        ),
    ]
    for attempt in attempts:
        with pytest.raises(Exception, match=r"(?i)authorization"):
            client = await attempt()
            await client.close()
    # A service without credentials exits as if NATS were missing (code 3).
    settings = ServiceSettings(nats_url=server.url, connect_wait_seconds=1.0)
    with pytest.raises(DependencyUnavailable):
        await broker.connect(settings.nats_servers, name="anonymous", wait_seconds=1.0)


def test_credentials_travel_percent_encoded_in_the_server_urls() -> None:
    settings = ServiceSettings(
        nats_url="nats://a:4222, nats://old:secret@b:4223",
        nats_user="svc user",
        nats_password="p@ss:w/rd%",
    )
    pool = broker.server_pool(settings.nats_servers)
    assert pool == broker.ServerPool(["nats://a:4222", "nats://b:4223"], "svc user", "p@ss:w/rd%")
    assert "p@ss" not in repr(settings)
    assert broker.server_pool(ServiceSettings(nats_url="nats://a:4222").nats_servers) == (
        broker.ServerPool(["nats://a:4222"], None, None)
    )


def test_orchest_up_writes_the_users_0600_and_gives_the_services_theirs(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.prepare()
    users = NatsUsers.load_or_generate(state.nats_users_file, "orchest")
    again = NatsUsers.load_or_generate(state.nats_users_file, "other")
    assert (again.services_password, again.ui_password) == (
        users.services_password,
        users.ui_password,
    )
    assert stat.S_IMODE(state.nats_users_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.secrets.stat().st_mode) == 0o700
    saved = json.loads(state.nats_users_file.read_text())
    assert saved[UI_USER] == {"user": UI_USER, "password": users.ui_password}
    info = StackInfo(state, "http://x", "nats://y", "postgresql://z", None, None, [], "now", users)
    env = _service_env(info, 8000)
    assert env["ORCHEST_NATS_USER"] == SERVICES_USER
    assert env["ORCHEST_NATS_PASSWORD"] == users.services_password
    assert info.as_json()["nats_users_file"] == str(state.nats_users_file)
    assert users.ui_password not in json.dumps(info.as_json())
    assert os.environ.get("ORCHEST_NATS_PASSWORD") is None
