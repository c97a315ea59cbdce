"""The outbox's pipelined JetStream publisher against a real NATS: messages
stored in the order sent, duplicates dropped by id, and the stream's refusals
and a subject no stream takes told apart from an acknowledgement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.js.errors import APIError, NoStreamResponseError

from orchest_scheduler.stream_publish import StreamPublisher
from orchest_schemas.bus import HEADER_MSG_ID, BusNames
from orchest_service.broker import ensure_streams


async def test_messages_are_acknowledged_stored_in_order_and_refusals_told_apart(
    nc: Any, bus: BusNames
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    publisher = StreamPublisher(nc)
    subjects = [bus.step_event("p", "r", f"s{i:03d}") for i in range(300)]
    sent = [
        await publisher.send(subject, f"{i}".encode(), {HEADER_MSG_ID: f"m{i}"})
        for i, subject in enumerate(subjects)
    ]
    assert await asyncio.wait_for(asyncio.gather(*sent), 10) == [None] * 300
    again = await publisher.send(subjects[0], b"0", {HEADER_MSG_ID: "m0"})
    assert await asyncio.wait_for(again, 10) is None  # a duplicate, dropped by the stream
    stream = bus.events_stream.name
    assert (await js.stream_info(stream)).state.messages == 300
    stored = [(await js.get_msg(stream, seq)).data for seq in range(1, 301)]
    assert stored == [f"{i}".encode() for i in range(300)]

    nowhere = await publisher.send(f"{bus.prefix}.nowhere.v1.x", b"x")
    with pytest.raises(NoStreamResponseError):
        await asyncio.wait_for(nowhere, 10)
    refused = await publisher.send(subjects[1], b"x", {"Nats-Expected-Stream": "ANOTHER"})
    with pytest.raises(APIError):
        await asyncio.wait_for(refused, 10)
    assert publisher.unanswered == 0


async def test_forgotten_acknowledgements_are_cancelled(nc: Any, bus: BusNames) -> None:
    publisher = StreamPublisher(nc)
    # Forgotten before its answer (here: no responders) could come back.
    waiting = await publisher.send(f"{bus.prefix}.quiet", b"x")
    publisher.forget_unanswered()
    assert waiting.cancelled() and publisher.unanswered == 0
