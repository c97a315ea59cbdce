"""The Celery+Redis baseline of figure 1: the design the stack replaces.

A ``redis-server`` (Debian's, on a free loopback port, nothing persisted) is
the broker and the result backend; one Celery worker (``bench.celery_app``,
the prefork pool as Celery starts it by default, two processes for two
cores) runs a ``chain`` of the same bash steps the stack runs. Celery and
``redis-server`` are the bench's own: ``uv sync --group bench`` installs
Celery, ``make bench`` installs ``redis-server`` where it may
(``Makefile``); without ``redis-server`` the baseline is skipped and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchest_cli.embedded import free_port

START_SECONDS = 60.0
REPOSITORY = Path(__file__).resolve().parent.parent


class BaselineMissing(Exception):
    """What the baseline needs is not installed (the message says what)."""


@dataclass
class CeleryWorker:
    redis_url: str
    app: Any

    async def chain(self, file: Path, run_uuid: str, steps: int, timeout: float = 300) -> None:
        """Run ``steps`` times ``bash file`` as one Celery chain; returns at its end."""
        from celery import chain

        signature = self.app.signature("bench.step", args=(str(file), run_uuid), immutable=True)
        result = chain(*(signature.clone() for _ in range(steps))).apply_async()
        await asyncio.to_thread(result.get, timeout=timeout, propagate=True)


def _missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server not found (Debian: apt-get install redis-server)"
    try:
        import celery  # noqa: F401
    except ImportError:
        return "celery not installed (uv sync --group bench)"
    return None


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _await_line(process: asyncio.subprocess.Process, needle: bytes, what: str) -> None:
    """Read ``process``'s output until a line holds ``needle``."""
    assert process.stdout is not None

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if needle in line:
                return
        raise BaselineMissing(f"{what} exited before it was ready")

    await asyncio.wait_for(read(), START_SECONDS)


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.read(65536):
        pass


@contextlib.asynccontextmanager
async def celery_worker(concurrency: int = 2) -> AsyncIterator[CeleryWorker]:
    """A ``redis-server`` and a Celery worker, both stopped on exit."""
    missing = _missing()
    if missing:
        raise BaselineMissing(missing)
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory(prefix="orchest-bench-redis-") as tmp:
        redis = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        drains: list[asyncio.Task[None]] = []
        try:
            await _await_line(redis, b"Ready to accept connections", "redis-server")
            drains.append(asyncio.create_task(_drain(redis)))
            env = {**os.environ, "ORCHEST_BENCH_REDIS_URL": redis_url}
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_app",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                cwd=REPOSITORY,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                await _await_line(worker, b"ready.", "the Celery worker")
                drains.append(asyncio.create_task(_drain(worker)))
                os.environ["ORCHEST_BENCH_REDIS_URL"] = redis_url
                from . import celery_app

                celery_app.app.conf.broker_url = redis_url
                celery_app.app.conf.result_backend = redis_url
                yield CeleryWorker(redis_url, celery_app.app)
            finally:
                await _stop(worker)
        finally:
            await _stop(redis)
            for drain in drains:
                drain.cancel()
            await asyncio.gather(*drains, return_exceptions=True)
