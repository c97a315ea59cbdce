"""The scheduler's clock: the real one, or one a test moves by hand.

Everything in the job scheduler that depends on time (which ticks are due,
when to look again) asks a ``Clock``, so a test can fire a week of cron ticks
in a second, deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


async def ticks(seconds: float, stopping: asyncio.Event) -> AsyncIterator[None]:
    """Yield every ``seconds`` (the first time after them) until ``stopping`` is set."""
    while True:
        try:
            await asyncio.wait_for(stopping.wait(), seconds)
            return
        except TimeoutError:
            yield


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def wait_until(self, when: datetime, wake: asyncio.Event) -> None:
        """Return once ``now() >= when``, or as soon as ``wake`` is set."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait_until(self, when: datetime, wake: asyncio.Event) -> None:
        delay = (when - self.now()).total_seconds()
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


class ManualClock:
    """A clock that moves only when told (``advance``, ``set``): for tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def set(self, when: datetime) -> None:
        async with self._moved:
            self._now = when
            self._moved.notify_all()

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)

    async def _reached(self, when: datetime) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= when)

    async def wait_until(self, when: datetime, wake: asyncio.Event) -> None:
        moved = asyncio.ensure_future(self._reached(when))
        woken = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({moved, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            moved.cancel()
            woken.cancel()
