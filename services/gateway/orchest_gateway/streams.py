"""Reading JetStream subjects in order, for SSE and for logs.

``tail`` yields the messages of one filter subject from a start point, in
stream order, through an ordered consumer (it re-creates itself on a gap, so
nothing is skipped); the stream sequence of each message is its resume
token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError


@dataclass(frozen=True)
class Item:
    sequence: int
    subject: str
    data: bytes


async def tail(
    js: JetStreamContext,
    subject: str,
    *,
    after: int | None,
    replay: bool,
    idle_seconds: float,
) -> AsyncGenerator[Item | None, None]:
    """Messages on ``subject``: after sequence ``after`` when given, else all of
    them (``replay``) or only new ones. Yields None after ``idle_seconds``
    without a message (the caller sends a keep-alive or checks a condition)."""
    if after is not None:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        )
    elif replay:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        queue.put_nowait(msg)

    subscription = await js.subscribe(
        subject, cb=on_message, ordered_consumer=True, config=config, manual_ack=True
    )
    try:
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), idle_seconds)
            except TimeoutError:
                yield None
                continue
            assert msg.metadata is not None
            yield Item(msg.metadata.sequence.stream, msg.subject, msg.data)
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()


async def last_sequence(js: JetStreamContext, stream: str, subject: str) -> int | None:
    """Stream sequence of the last message on ``subject``; None if there is none."""
    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return msg.seq
