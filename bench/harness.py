"""What every figure uses: a stack started with ``orchest up``, clients, a
way to run a pipeline and time it, and small statistics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import psutil
from nats.aio.client import Client

from orchest_cli import stack as stack_ops
from orchest_cli.embedded import free_port
from orchest_cli.statedir import StateDir
from orchest_schemas.bus import BusNames
from orchest_schemas.events import ANY_EVENT, RunStatusChanged


def percentile(values: Iterable[float], q: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def p50(values: Iterable[float]) -> float:
    return statistics.median(list(values))


@dataclass
class Stack:
    state: StateDir
    url: str
    nats_url: str
    database_url: str
    processes: dict[str, Any]
    bus: BusNames = field(default_factory=BusNames)
    nc: Client | None = None
    http: httpx.AsyncClient | None = None

    def pids(self, prefix: str) -> list[int]:
        return [int(p["pid"]) for name, p in self.processes.items() if name.startswith(prefix)]

    @contextmanager
    def paused(self, prefix: str) -> Any:
        """SIGSTOP the stack's processes named ``prefix*`` for a while."""
        pids = self.pids(prefix)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield pids
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)


@contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    """``extra`` set in this process's environment meanwhile, then put back."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@asynccontextmanager
async def running_stack(
    runners: int = 1, env: Mapping[str, str] | None = None, gateways: int = 1
) -> AsyncIterator[Stack]:
    """An embedded stack (``orchest up --runners N --gateways M``) on a new
    state directory.

    ``env``: variables for the stack's services (``ORCHEST_EXECUTOR=docker``):
    set in the bench's environment only while ``orchest up`` starts the
    supervisor, which passes its environment on to every service it starts.
    """
    with tempfile.TemporaryDirectory(prefix="orchest-bench-") as tmp:
        state = StateDir(Path(tmp) / "state")
        with _environ(env or {}):
            await asyncio.to_thread(stack_ops.up, state, free_port(), 120.0, runners, gateways)
        info = state.read_stack() or {}
        stack = Stack(
            state=state,
            url=info["gateway_url"],
            nats_url=_as_services(info["nats_url"], info.get("nats_users_file")),
            database_url=info["database_url"],
            processes=info["processes"],
        )
        stack.nc = await nats.connect(stack.nats_url)
        stack.http = httpx.AsyncClient(base_url=stack.url, timeout=120.0)
        try:
            yield stack
        finally:
            await stack.http.aclose()
            await stack.nc.drain()
            await asyncio.to_thread(stack_ops.down, state)


def _as_services(url: str, users_file: str | None) -> str:
    """The stack's NATS URL with the ``services`` user's credentials (the
    embedded NATS admits no anonymous connection), as the services connect."""
    if users_file is None:
        return url
    services = json.loads(Path(users_file).read_text())["services"]
    user = urllib.parse.quote(services["user"], safe="")
    password = urllib.parse.quote(services["password"], safe="")
    return url.replace("://", f"://{user}:{password}@", 1)


@dataclass
class Pipeline:
    """A project directory with a generated pipeline definition."""

    root: Path
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    settings: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, file_path: str, parents: Iterable[str] = ()) -> None:
        self.steps[key] = {
            "uuid": key,
            "title": key,
            "file_path": file_path,
            "incoming_connections": list(parents),
            "kernel": {"name": "python", "display_name": "Python 3"},
        }

    def body(self, **extra: Any) -> dict[str, Any]:
        definition = {
            "uuid": self.uuid,
            "name": "bench",
            "version": "1.0.0",
            "settings": self.settings,
            "steps": self.steps,
        }
        return {
            "pipeline_definition": definition,
            "run_type": "full",
            "uuids": [],
            "run_config": {"project_dir": str(self.root)},
            **extra,
        }

    def fresh(self) -> Pipeline:
        """The same steps under a new pipeline uuid (its own event filter)."""
        return Pipeline(self.root, self.steps, str(uuid.uuid4()), self.settings)


def project_dir(name: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"orchest-bench-{name}-"))
    (root / "noop.sh").write_text(":\n")
    return root


@dataclass
class RunTiming:
    run_uuid: str
    wall: float
    """POST sent -> final run event received (seconds)."""
    status: str


async def run_pipeline(
    stack: Stack, pipeline: Pipeline, timeout: float = 600, *, check: bool = True
) -> RunTiming:
    """POST the run and wait for its final event (core NATS subscription on the
    pipeline's events, made before the POST so nothing is missed). With
    ``check``, a run that did not succeed raises, naming its steps' errors."""
    assert stack.nc is not None and stack.http is not None
    done: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = ANY_EVENT.validate_json(msg.data)
        if isinstance(event, RunStatusChanged) and event.status.is_final and not done.done():
            done.set_result((time.perf_counter(), event.status.value))

    sub = await stack.nc.subscribe(stack.bus.run_status_events(pipeline.uuid), cb=on_event)
    await stack.nc.flush()
    try:
        t0 = time.perf_counter()
        response = await stack.http.post("/api/runs", json=pipeline.body())
        response.raise_for_status()
        ended, status = await asyncio.wait_for(done, timeout)
    finally:
        await sub.unsubscribe()
    timing = RunTiming(response.json()["uuid"], ended - t0, status)
    if check and status != "SUCCESS":
        view = (await stack.http.get(f"/api/runs/{timing.run_uuid}")).json()
        errors = {
            step["step_uuid"]: step["error"]
            for step in view.get("pipeline_steps", [])
            if step["status"] != "SUCCESS"
        }
        raise AssertionError(f"run {timing.run_uuid} ended {status}; its steps: {errors}")
    return timing


async def reports_of(stack: Stack, run_uuid: str) -> list[dict[str, Any]]:
    """The runners' reports of a run (step execution times, runner clocks)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM scheduler.event_log"
            " WHERE run_uuid = $1 AND kind = 'step_attempt_finished'",
            run_uuid,
        )
    finally:
        await conn.close()
    return [json.loads(r["payload"]) for r in rows]


async def nats_round_trip(stack: Stack, n: int = 2000) -> list[float]:
    """Request/reply round trips on the stack's NATS, in seconds."""
    assert stack.nc is not None
    subject = f"{stack.bus.prefix}.bench.echo.{uuid.uuid4().hex}"  # the services may use it

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    sub = await stack.nc.subscribe(subject, cb=echo)
    client = await nats.connect(stack.nats_url)
    try:
        for _ in range(100):
            await client.request(subject, b"x", timeout=5)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await client.request(subject, b"x", timeout=5)
            samples.append(time.perf_counter() - t0)
    finally:
        await client.drain()
        await sub.unsubscribe()
    return samples


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (and its live descendants)."""
    processes = [psutil.Process(pid)]
    if children:
        processes += processes[0].children(recursive=True)
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def stack_cpu(stack: Stack) -> dict[str, float]:
    return {name: cpu_seconds(int(p["pid"]), children=True) for name, p in stack.processes.items()}


async def run_script(root: Path, script: str, env: Mapping[str, str] | None = None) -> None:
    """``bash script`` in ``root`` as the floors run a step: a session of its
    own, no stdin, its output piped and read to its end."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(root / script),
        cwd=root,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    await process.communicate()
