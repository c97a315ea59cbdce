"""Stopping an attempt from outside: the cancel event and the timeout."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from .base import ExecutionResult


class Stop(StrEnum):
    """Why an attempt was stopped before it ended on its own."""

    TIMED_OUT = "timed_out"
    ABORTED = "aborted"


def stop_message(stop: Stop, timeout_seconds: float | None) -> str:
    if stop is Stop.TIMED_OUT:
        return f"timed out after {timeout_seconds}s"
    return "aborted"


def script_result(
    exit_code: int | None, stop: Stop | None, timeout_seconds: float | None, cause: str | None
) -> ExecutionResult:
    """How a script's attempt ended: stopped (timed out, aborted), succeeded,
    or failed, with ``cause`` as its error (None: its exit code)."""
    if stop is not None:
        return ExecutionResult(
            exit_code,
            stop_message(stop, timeout_seconds),
            timed_out=stop is Stop.TIMED_OUT,
            aborted=stop is Stop.ABORTED,
        )
    if exit_code == 0:
        return ExecutionResult(0, None)
    return ExecutionResult(exit_code, cause or f"exit code {exit_code}")


async def wait_or_stop(
    task: asyncio.Future[Any], cancel: asyncio.Event, deadline: float | None
) -> Stop | None:
    """Wait for ``task`` to end, ``cancel`` to be set or the loop time ``deadline``.

    Returns ``None`` when the task ended (first, or together with a stop).
    """
    cancelled = asyncio.ensure_future(cancel.wait())
    try:
        timeout = None if deadline is None else deadline - asyncio.get_running_loop().time()
        if timeout is not None and timeout <= 0:
            done: set[asyncio.Future[Any]] = {task} if task.done() else set()
        else:
            done, _ = await asyncio.wait(
                {task, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
    finally:
        cancelled.cancel()
    if task in done:
        return None
    if cancel.is_set():
        return Stop.ABORTED
    return Stop.TIMED_OUT
