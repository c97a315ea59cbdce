"""The outbox's publisher waits for a batch's acknowledgements under one
deadline and publishes again, in order, each message not acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.js.errors import APIError

from orchest_scheduler import outbox
from orchest_scheduler.outbox import Outbox, OutMessage


async def test_what_was_not_acknowledged_is_published_again_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "ACK_TIMEOUT", 0.2)
    loop = asyncio.get_running_loop()
    acks: dict[str, asyncio.Future[Any] | None] = {
        "stored": loop.create_future(),
        "refused": loop.create_future(),
        "lost": loop.create_future(),  # never answered
        "core": None,  # core NATS: nothing to wait for
        "late-refused": loop.create_future(),
    }
    again: list[str] = []

    async def send(self: Outbox, message: OutMessage) -> asyncio.Future[Any] | None:
        return acks[message.subject]

    async def publish_until_done(self: Outbox, message: OutMessage) -> None:
        again.append(message.subject)

    monkeypatch.setattr(Outbox, "_send", send)
    monkeypatch.setattr(Outbox, "_publish_until_done", publish_until_done)
    publisher = Outbox(None, None, None)  # type: ignore[arg-type]
    batch = [(i, OutMessage(subject, b"")) for i, subject in enumerate(acks)]
    for name, error in (("stored", None), ("refused", APIError()), ("late-refused", APIError())):
        ack = acks[name]
        assert ack is not None
        if error is None:
            ack.set_result(object())
        else:
            ack.set_exception(error)
    await asyncio.wait_for(publisher._publish_batch(batch), 5)
    assert again == ["refused", "lost", "late-refused"]
