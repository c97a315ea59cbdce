"""A Server-Sent Events client over httpx that resumes with Last-Event-ID."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from .errors import api_error


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: str


def parse_lines(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Events from the lines of an event stream (the SSE wire format)."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event_id, kind, "\n".join(data))
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            event_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


def follow(
    client: httpx.Client, url: str, params: dict[str, str], *, retry_for: float = 30.0
) -> Iterator[SseEvent]:
    """Events from ``url``; on a dropped connection, or an ``error`` event (the
    gateway drops a reader that fell behind), reconnect and resume after the
    last event seen (no gap, no duplicate), for up to ``retry_for`` seconds
    of failing connections."""
    last_id: str | None = None
    failing_since: float | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with client.stream(
                "GET", url, params=params, headers=headers, timeout=None
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise api_error(response)
                failing_since = None
                dropped = False
                for event in parse_lines(response.iter_lines()):
                    if event.event == "error":
                        # The gateway drops a client that fell behind, saying
                        # after which event to resume (its id).
                        last_id = event.id or last_id
                        dropped = True
                        break
                    last_id = event.id or last_id
                    yield event
            if not dropped:
                return
        except (httpx.TransportError, httpx.RemoteProtocolError):
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > retry_for:
                raise
            time.sleep(0.5)
