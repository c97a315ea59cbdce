"""Fixtures: a real nats-server and a real Postgres from the product's own
wheels, started once per session on free ports; each test gets its own bus
prefix (so its own subjects and streams) and its own database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import nats
import pytest
import uvloop
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres
from orchest_schemas.bus import BusNames
from orchest_service.settings import ServiceSettings
from orchest_step_runner import scratch
from support import CLI_CONFIG_DIR, REPO_ROOT, running_service

DOCKER_TIER = REPO_ROOT / "tests" / "docker"
MODULE_WEIGHTS = REPO_ROOT / "tests" / "module_weights.json"
"""The seconds each module took in a whole run (``scripts/test-weights.py``)."""
DEFAULT_WEIGHT = 10
"""The weight of a module ``MODULE_WEIGHTS`` does not name (a new one)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Docker tier last: its first test waits for the images, which ``make
    test`` builds in the background meanwhile (``scripts/test-env.sh``), so
    the other tiers run first, in parallel with the build. Within each tier,
    the heaviest modules first (``MODULE_WEIGHTS``; a module's tests keep
    their order): a long module started last would end the run alone while
    the other workers idle. Every xdist worker collects the same order, and
    ``make test`` has xdist hand the modules out in it
    (``--no-loadscope-reorder``: by default it hands out the modules with the
    most tests first)."""
    weights: dict[str, int] = json.loads(MODULE_WEIGHTS.read_text())

    def key(item: pytest.Item) -> tuple[bool, int, str]:
        module = item.path.relative_to(REPO_ROOT).as_posix()
        return (
            item.path.is_relative_to(DOCKER_TIER),
            -weights.get(module, DEFAULT_WEIGHT),
            module,
        )

    items.sort(key=key)


class UvloopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's policy making uvloop loops: its child watcher stays there for
    a test that runs asyncio's own loop (``asyncio.SelectorEventLoop``)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return uvloop.new_event_loop()


def pytest_configure(config: pytest.Config) -> None:
    """The tests' own loops: the one ``ORCHEST_EVENT_LOOP`` names, CPython's
    when unset, made through the process's event loop policy (which
    pytest-asyncio's loops follow). Most parts the tests run in this process
    are the step runner's (executors, runners, kernel pools), whose service
    runs on CPython's loop unless told otherwise (``RunnerSettings``); the
    services the tests start as processes read the same variable."""
    if os.environ.get("ORCHEST_EVENT_LOOP") == "uvloop":
        asyncio.set_event_loop_policy(UvloopPolicy())


@pytest.fixture(scope="session", autouse=True)
def cli_config_dir() -> Iterator[Path]:
    """The ``orchest`` command's configuration folder of this test process
    (``support.CLI_CONFIG_DIR``), removed when the session ends."""
    yield CLI_CONFIG_DIR
    shutil.rmtree(CLI_CONFIG_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def runner_folder() -> Iterator[None]:
    """The step runners' folder of this test process (``scratch.py``), made
    by the runners and executors the tests start in it, removed at the end."""
    yield
    scratch.release()


# The servers' directories are not under pytest's basetemp: another pytest
# session starting meanwhile re-restricts that tree to its owner (which the
# Postgres user, when run as root, then cannot enter) and prunes old ones.


@pytest.fixture(scope="session")
async def nats_server() -> AsyncIterator[EmbeddedNats]:
    with tempfile.TemporaryDirectory(prefix="orchest-test-nats-") as tmp:
        root = Path(tmp)
        async with EmbeddedNats(root / "store", root / "nats.log") as server:
            yield server


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[EmbeddedPostgres]:
    with tempfile.TemporaryDirectory(prefix="orchest-test-postgres-") as tmp:
        root = Path(tmp)
        async with EmbeddedPostgres(root / "data", root / "postgres.log") as server:
            yield server


@contextlib.asynccontextmanager
async def fresh_database(server: EmbeddedPostgres) -> AsyncIterator[str]:
    """The URL of a new database, dropped on exit."""
    name = f"test_{uuid4().hex[:16]}"
    await server.create_database(name)
    yield server.url(name)
    conn = await asyncpg.connect(server.url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_streams(nc: Client, names: BusNames) -> None:
    """The streams and object stores of the bus prefix ``names``, deleted."""
    js = nc.jetstream()
    buckets = [names.artifacts_bucket, names.definitions_bucket]
    for stream in [spec.name for spec in names.streams] + [f"OBJ_{b}" for b in buckets]:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)


def settings_builder(nats_url: str, database_url: str, bus: BusNames) -> Callable[..., Any]:
    """Build settings of any ``ServiceSettings`` class pointing at this NATS,
    database and bus prefix; keyword arguments override fields."""

    def build(cls: type[ServiceSettings] = ServiceSettings, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "nats_url": nats_url,
            "database_url": database_url,
            "bus_prefix": bus.prefix,
            "connect_wait_seconds": 5.0,
            "drain_timeout_seconds": 5.0,
        }
        values.update(overrides)
        return cls(**values)

    return build


@pytest.fixture
async def database_url(postgres_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A fresh database for this test, dropped after it."""
    async with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.drain()


@pytest.fixture
async def bus(nc: Client) -> AsyncIterator[BusNames]:
    """A bus prefix of this test's own; its streams are deleted after it."""
    names = BusNames(f"t{uuid4().hex[:12]}")
    yield names
    await delete_streams(nc, names)


@pytest.fixture
def service_settings(
    nats_server: EmbeddedNats, database_url: str, bus: BusNames
) -> Callable[..., Any]:
    """Build settings of any ``ServiceSettings`` class pointing at this test's
    NATS, database and bus prefix (``settings_builder``)."""
    return settings_builder(nats_server.url, database_url, bus)


@pytest.fixture(scope="module")
async def module_settings(
    nats_server: EmbeddedNats, postgres_server: EmbeddedPostgres
) -> AsyncIterator[Callable[..., Any]]:
    """``service_settings`` of the module: a database and a bus prefix of its
    own, for a stack its tests share (a module-scoped fixture of its own
    starts it). Such tests send only their own projects, pipelines and ids,
    and read back only those: none sees another's rows."""
    async with fresh_database(postgres_server) as url:
        client = await nats.connect(nats_server.url)
        names = BusNames(f"m{uuid4().hex[:12]}")
        try:
            yield settings_builder(nats_server.url, url, names)
        finally:
            await delete_streams(client, names)
            await client.drain()


@pytest.fixture
def service_runner() -> Callable[..., contextlib.AbstractAsyncContextManager[asyncio.Event]]:
    return running_service


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temporary directory outside pytest's basetemp (see above): for state
    directories whose Postgres runs as another user."""
    with tempfile.TemporaryDirectory(prefix="orchest-test-") as tmp:
        yield Path(tmp)
