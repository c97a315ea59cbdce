"""The gateway's ordered reader against a real JetStream: its window, its
start points, a message larger than the window, a consumer lost under it,
NATS killed and restarted under it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from orchest_cli.embedded import EmbeddedNats
from orchest_gateway.streams import OrderedReader, Window
from orchest_schemas.bus import BusNames
from orchest_service.broker import ensure_streams

WINDOW = Window(messages=8, bytes=4096)


@pytest.fixture
async def stream(nc: Client, bus: BusNames) -> AsyncIterator[str]:
    await ensure_streams(nc.jetstream(), (bus.events_stream,))
    yield bus.events_stream.name


def subject(bus: BusNames, name: str = "r") -> str:
    return bus.run_event("p", name)


async def publish(nc: Client, subject: str, payloads: list[bytes]) -> list[int]:
    js = nc.jetstream()
    return [(await js.publish(subject, payload)).seq for payload in payloads]


async def read(reader: OrderedReader, count: int) -> list[tuple[int, bytes]]:
    items = []
    for _ in range(count):
        item = await reader.next(10)
        assert item is not None, f"nothing after {items[-1:] or 'the start'}"
        items.append((item.sequence, item.data))
        # What it holds: never more than one window.
        assert reader._incoming.qsize() <= WINDOW.messages
    return items


async def test_reads_everything_in_order_a_window_at_a_time(
    nc: Client, bus: BusNames, stream: str
) -> None:
    payloads = [b"%d" % i for i in range(100)]
    other = await publish(nc, subject(bus, "other"), [b"other"])
    sequences = await publish(nc, subject(bus), payloads)
    reader = OrderedReader(
        nc.jetstream(), nc, stream, subject(bus), after=None, replay=True, window=WINDOW
    )
    await reader.open()
    try:
        assert reader.position == 0
        assert await read(reader, 100) == list(zip(sequences, payloads, strict=True))
        assert reader.position == sequences[-1] and other[0] not in sequences
        assert await reader.next(0.3) is None
        # Live: a message published now comes next.
        (late,) = await publish(nc, subject(bus), [b"late"])
        assert await read(reader, 1) == [(late, b"late")]
    finally:
        await reader.close()
    assert await nc.jetstream().consumers_info(stream) == []


async def test_starts_after_a_point_or_at_new_messages(
    nc: Client, bus: BusNames, stream: str
) -> None:
    sequences = await publish(nc, subject(bus), [b"a", b"b", b"c"])
    js = nc.jetstream()
    after = OrderedReader(
        js, nc, stream, subject(bus), after=sequences[0], replay=False, window=WINDOW
    )
    new = OrderedReader(js, nc, stream, subject(bus), after=None, replay=False, window=WINDOW)
    await after.open()
    await new.open()
    try:
        assert new.position == sequences[-1]  # resuming after it is exact
        (d,) = await publish(nc, subject(bus), [b"d"])
        assert await read(after, 3) == [(sequences[1], b"b"), (sequences[2], b"c"), (d, b"d")]
        assert await read(new, 1) == [(d, b"d")]
    finally:
        await after.close()
        await new.close()


async def test_a_message_larger_than_the_window_is_read_alone(
    nc: Client, bus: BusNames, stream: str
) -> None:
    payloads = [b"small", b"x" * (3 * WINDOW.bytes), b"after", b"y" * (2 * WINDOW.bytes)]
    sequences = await publish(nc, subject(bus), payloads)
    reader = OrderedReader(
        nc.jetstream(), nc, stream, subject(bus), after=None, replay=True, window=WINDOW
    )
    await reader.open()
    try:
        assert await read(reader, 4) == list(zip(sequences, payloads, strict=True))
    finally:
        await reader.close()


async def test_a_consumer_lost_under_the_reader_is_replaced_exactly(
    nc: Client, bus: BusNames, stream: str
) -> None:
    payloads = [b"%d" % i for i in range(40)]
    sequences = await publish(nc, subject(bus), payloads)
    js = nc.jetstream()
    reader = OrderedReader(js, nc, stream, subject(bus), after=None, replay=True, window=WINDOW)
    await reader.open()
    try:
        first = await read(reader, 5)  # the rest of its window is waiting in the reader
        for info in await js.consumers_info(stream):  # as after a NATS restart
            await js.delete_consumer(stream, info.name)
        rest = await asyncio.wait_for(read(reader, 35), 30)
        assert first + rest == list(zip(sequences, payloads, strict=True))
        assert len(await js.consumers_info(stream)) == 1
    finally:
        await reader.close()


async def test_carries_on_after_nats_is_killed_and_restarted(workdir: Path, bus: BusNames) -> None:
    server = EmbeddedNats(workdir / "nats", workdir / "nats.log")
    await server.start()
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        await ensure_streams(nc.jetstream(), (bus.events_stream,))
        stream = bus.events_stream.name
        before = await publish(nc, subject(bus), [b"%d" % i for i in range(20)])
        reader = OrderedReader(
            nc.jetstream(), nc, stream, subject(bus), after=None, replay=True, window=WINDOW
        )
        await reader.open()
        try:
            first = await read(reader, 12)
            os.kill(server.pid, signal.SIGKILL)
            await server.stop()  # reaps it
            await server.start()  # same port, same store; the reader's consumer is gone
            after = await publish(nc, subject(bus), [b"late"])
            rest = await asyncio.wait_for(read(reader, 9), 60)
        finally:
            await reader.close()
        payloads = [b"%d" % i for i in range(20)] + [b"late"]
        assert first + rest == list(zip(before + after, payloads, strict=True))
    finally:
        await nc.close()
        await server.stop()
