"""Waiting for a session's servers to answer, the same way in every runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from .base import LaunchFailed

REQUEST_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    """One server to wait for: its role, the URL that answers 200 once it is
    ready, and how to tell (``exited``: why it is gone, else None) and show
    (``tail``: its log's end) that it died."""

    role: str
    ready_url: str
    headers: Mapping[str, str]
    exited: Callable[[], Awaitable[str | None]]
    tail: Callable[[], Awaitable[str]]


async def wait_ready(probes: Sequence[Probe], timeout: float, poll_seconds: float) -> None:
    """Poll each server's ready URL until it answers 200; raise ``LaunchFailed``
    with that server's log when one exits or when ``timeout`` passes."""
    import httpx  # on a session's first launch, not at the service's start (with rich)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waiting = list(probes)
    last: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False) as client:
        while waiting:
            for probe in list(waiting):
                gone = await probe.exited()
                if gone is not None:
                    raise LaunchFailed(f"{probe.role} {gone}:\n{await probe.tail()}")
                try:
                    response = await client.get(probe.ready_url, headers=dict(probe.headers))
                except httpx.HTTPError as exc:
                    last[probe.role] = f"{type(exc).__name__}: {exc}"
                    continue
                if response.status_code == 200:
                    waiting.remove(probe)
                else:
                    last[probe.role] = f"HTTP {response.status_code}"
            if not waiting:
                return
            if loop.time() >= deadline:
                probe = waiting[0]
                raise LaunchFailed(
                    f"{probe.role} not ready after {timeout:.0f}s "
                    f"({last.get(probe.role, 'no answer')}):\n{await probe.tail()}"
                )
            await asyncio.sleep(poll_seconds)
