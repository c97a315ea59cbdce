"""Reading the gateway's event stream (``/api/events``) in tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Frame:
    """One frame of a ``text/event-stream`` response."""

    id: int | None
    event: str
    data: str

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Each frame of ``response`` as it arrives (comments, the keep-alives, skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line:
            key, _, value = line.partition(": ")
            fields[key] = value
            continue
        if fields:
            yield Frame(
                id=int(fields["id"]) if "id" in fields else None,
                event=fields.get("event", "message"),
                data=fields.get("data", ""),
            )
            fields = {}


async def read_events(
    http: httpx.AsyncClient,
    params: dict[str, str],
    enough: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float = 60,
) -> list[dict[str, Any]]:
    """Events of ``/api/events`` (replayed from the first) until ``enough``:
    each the event's JSON with its ``event`` name."""
    got: list[dict[str, Any]] = []

    async def read() -> None:
        async with http.stream(
            "GET", "/api/events", params={**params, "replay": "true"}
        ) as response:
            assert response.status_code == 200
            async for frame in frames(response):
                got.append({"event": frame.event, **frame.json()})
                if enough(got):
                    return

    await asyncio.wait_for(read(), timeout)
    return got
