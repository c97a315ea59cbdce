"""The gateway's live feed reads the events stream only while an event stream
listens: no consumer on the server while nobody does, one for any number of
listeners, kept for a linger after the last one left, deleted after it; and
every connection still gets exactly its events across the feed's stops and
starts (a resume with ``Last-Event-ID`` joins the stored events to the live
ones), including one that arrives while the feed stops.

Events are published straight to the events stream; the gateway runs alone
in this process (its feed and its reader class are watched through
``orchest_gateway.server``, the names it makes them by)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from sse_harness import SseClient, clients, gateway, publish, until_id

from orchest_gateway import server
from orchest_gateway.fanout import EventFeed
from orchest_gateway.streams import OrderedReader
from orchest_schemas.bus import BusNames
from orchest_service.broker import ensure_streams
from support import eventually


async def consumers(nc: Client, bus: BusNames, *, feeds: bool = False) -> list[str]:
    """Names of the consumers the server holds on the events stream (with
    ``feeds``, only those on every event: a feed's, in these tests)."""
    infos = await nc.jetstream().consumers_info(bus.events_stream.name)
    return sorted(
        info.name for info in infos if not feeds or info.config.filter_subject == bus.all_events
    )


async def no_consumer(nc: Client, bus: BusNames, timeout: float = 20) -> None:
    async def none_left() -> bool | None:
        return True if not await consumers(nc, bus) else None

    await eventually(none_left, timeout=timeout, what="no consumer on the events stream")


def run_events(bus: BusNames, run: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    subject = bus.run_event(str(uuid.uuid4()), run)
    return [(subject, {"kind": "run_status_changed", "n": n}) for n in range(count)]


@asynccontextmanager
async def watched_gateway(
    service_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> AsyncIterator[tuple[int, list[EventFeed]]]:
    """The gateway alone; yields its port and (once made) its feed."""
    feeds: list[EventFeed] = []

    class Watched(EventFeed):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            feeds.append(self)

    monkeypatch.setattr(server, "EventFeed", Watched)
    async with gateway(service_settings, **overrides) as port:
        assert len(feeds) == 1
        yield port, feeds


async def test_no_consumer_while_nobody_listens_and_one_for_many(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    run = str(uuid.uuid4())
    async with gateway(service_settings, sse_feed_linger_seconds=0.5) as port:
        assert await consumers(nc, bus) == [], "a consumer with nobody listening"
        queries = [{"run_uuid": run} if i % 2 else {} for i in range(20)]
        async with clients(port, queries) as listening:
            assert len(await consumers(nc, bus)) == 1  # however many listen
            sequences = await publish(nc, run_events(bus, run, 5))
            await asyncio.gather(*(c.read(until_id(max(sequences))) for c in listening))
            assert all(c.ids == sequences for c in listening)
        # The last one gone, the feed lingers, then stops: nothing left on the server.
        await no_consumer(nc, bus)


async def test_a_resume_gets_every_event_across_a_stop_and_start_of_the_feed(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    run = str(uuid.uuid4())
    events = run_events(bus, run, 15)
    async with gateway(service_settings, sse_feed_linger_seconds=0.2) as port:
        stored = await publish(nc, events[:5])  # nobody listens: the feed is stopped
        first = SseClient(port, {"run_uuid": run}, {"Last-Event-ID": str(stored[1])})
        await first.open()  # the feed's first listener
        live = await publish(nc, events[5:8])
        await first.read(until_id(live[-1]))
        first.close()
        assert first.ids == stored[2:] + live
        await no_consumer(nc, bus)  # the feed stopped
        meanwhile = await publish(nc, events[8:11])
        async with clients(
            port, [{"run_uuid": run}] * 2, [{"Last-Event-ID": str(first.ids[-1])}, {}]
        ) as (resumed, fresh):
            after = await publish(nc, events[11:])
            await asyncio.gather(resumed.read(until_id(after[-1])), fresh.read(until_id(after[-1])))
    assert resumed.ids == meanwhile + after
    assert fresh.ids == after
    assert not first.errors + resumed.errors + fresh.errors


async def test_a_listener_during_the_linger_reuses_the_reader(
    service_settings: Callable[..., Any],
    nc: Client,
    bus: BusNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = str(uuid.uuid4())
    async with watched_gateway(service_settings, monkeypatch, sse_feed_linger_seconds=60) as (
        port,
        (feed,),
    ):
        async with clients(port, [{"run_uuid": run}]) as (first,):
            (reader,) = await consumers(nc, bus)
            (one,) = await publish(nc, run_events(bus, run, 1))
            await first.read(until_id(one))

        async def gone() -> bool | None:
            return True if feed.listeners == 0 else None

        await eventually(gone, timeout=10, what="the first listener gone")
        assert await consumers(nc, bus) == [reader]  # lingering
        async with clients(port, [{"run_uuid": run}]) as (second,):
            assert await consumers(nc, bus) == [reader]
            (two,) = await publish(nc, run_events(bus, run, 1))
            await second.read(until_id(two))
        assert second.ids == [two]
        assert feed.starts == 1


async def test_a_listener_arriving_as_the_feed_stops_gets_every_event(
    service_settings: Callable[..., Any],
    nc: Client,
    bus: BusNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The feed's reader is held in its close (its consumer not deleted yet)
    while two connections arrive, one resuming, and an event is published:
    they wait for the next reader, and get exactly their events."""
    run = str(uuid.uuid4())
    events = run_events(bus, run, 3)
    closing, release = asyncio.Event(), asyncio.Event()

    class Held(OrderedReader):
        async def close(self) -> None:
            closing.set()
            await release.wait()
            await super().close()

    monkeypatch.setattr(server, "OrderedReader", Held)
    async with watched_gateway(service_settings, monkeypatch, sse_feed_linger_seconds=0.2) as (
        port,
        (feed,),
    ):
        resumed = SseClient(port, {"run_uuid": run})
        fresh = SseClient(port, {"run_uuid": run})
        try:
            async with clients(port, [{"run_uuid": run}]) as (first,):
                (one,) = await publish(nc, events[:1])
                await first.read(until_id(one))
            (stopping,) = await consumers(nc, bus)
            await asyncio.wait_for(closing.wait(), 20)  # the linger is over
            resumed.headers["Last-Event-ID"] = str(one)
            opening = asyncio.gather(resumed.open(), fresh.open())

            async def waiting() -> bool | None:
                return True if feed.demand == 2 else None

            await eventually(waiting, timeout=20, what="both connections waiting")
            (two,) = await publish(nc, events[1:2])
            release.set()
            await asyncio.wait_for(opening, 20)
            (three,) = await publish(nc, events[2:])
            await asyncio.gather(resumed.read(until_id(three)), fresh.read(until_id(three)))
            (feeding,) = await consumers(nc, bus, feeds=True)
            assert feeding != stopping
        finally:
            release.set()
            for client in (resumed, fresh):
                client.close()
        assert resumed.ids == [two, three]
        assert fresh.ids == [three]  # its headers came after ``two``
        assert feed.starts == 2


async def test_a_feed_that_cannot_read_answers_503_and_the_gateway_stays_up(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    """With the events stream gone, an event stream is refused (503) after
    the wait, the gateway answering the rest; the stream back, the next one
    starts the feed."""
    run = str(uuid.uuid4())
    js = nc.jetstream()
    async with gateway(service_settings, command_timeout_seconds=1.0) as port:
        await js.delete_stream(bus.events_stream.name)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            refused = await http.get("/api/events", params={"run_uuid": run})
            assert refused.status_code == 503, refused.text
            assert "live events are not available" in refused.json()["message"]
            assert (await http.get("/api/ping")).status_code == 204
            health = (await http.get("/api/health")).json()
            (nats,) = [d for d in health["dependencies"] if d["name"] == "nats"]
            assert nats["up"], health  # the feed is no part of the health
        await ensure_streams(js, (bus.events_stream,))
        async with clients(port, [{"run_uuid": run}]) as (client,):
            (one,) = await publish(nc, run_events(bus, run, 1))
            await client.read(until_id(one))
        assert client.ids == [one]
