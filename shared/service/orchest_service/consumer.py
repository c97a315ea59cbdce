"""JetStream pull consumers, and the one ack policy every handler runs under.

Handlers never ack. ``settle`` acks after the handler returned (its writes
are committed), naks with a delay on a retryable error (a dependency is
down: the message waits), and on any other error logs it and naks until the
message has failed ``poison_after`` deliveries, then terminates it.
``consume`` fetches batches and runs a handler on each message under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import BaseModel, ValidationError

from orchest_schemas.bus import ConsumerSpec

from .errors import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


class Abandon(Exception):
    """Raised inside ``settle`` to hand the message back at once (nak, no delay)."""


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create or update a durable pull consumer (idempotent)."""
    await js.add_consumer(
        spec.stream,
        ConsumerConfig(
            durable_name=spec.durable_name,
            filter_subject=spec.filter_subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=spec.ack_wait_seconds,
            max_deliver=spec.max_deliver,
            max_ack_pending=10_000,
        ),
    )


async def _handle(
    msg: Msg, model: type[ModelT], handler: Callable[[ModelT, Msg], Awaitable[None]]
) -> None:
    value = parse(msg, model)
    if value is None:
        await msg.term()
        return
    async with settle(msg, what=f"{model.__name__} on {msg.subject}"):
        await handler(value, msg)


def parse(msg: Msg, model: type[ModelT]) -> ModelT | None:
    """The message as ``model``; None (and the caller terminates it) if it does not parse."""
    try:
        return model.model_validate_json(msg.data)
    except ValidationError as exc:
        logger.error("poison message on %s, terminated: %s", msg.subject, exc)
        return None


@contextlib.asynccontextmanager
async def settle(
    msg: Msg, *, what: str, retry_delay: float = 1.0, poison_after: int = 5
) -> AsyncIterator[None]:
    try:
        yield
    except Abandon:
        await msg.nak()
        return
    except TRANSIENT_ERRORS as exc:
        logger.warning("%s: will retry (%s: %s)", what, type(exc).__name__, exc)
        await msg.nak(delay=retry_delay)
        return
    except Exception:
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        if deliveries >= poison_after:
            logger.exception("%s failed %d times: terminated", what, deliveries)
            await msg.term()
        else:
            logger.exception("%s failed (delivery %d): will retry", what, deliveries)
            await msg.nak(delay=retry_delay)
        return
    await msg.ack()


async def consume(
    js: JetStreamContext,
    spec: ConsumerSpec,
    model: type[ModelT],
    handler: Callable[[ModelT, Msg], Awaitable[None]],
    stopping: asyncio.Event,
    *,
    batch: int = 64,
    poll_seconds: float = 0.5,
    concurrent: bool = False,
) -> None:
    """Run ``handler`` on each message until stopped: one after the other, or
    with ``concurrent`` all messages of a fetched batch at once (started in
    their order, each settled on its own)."""
    await ensure_consumer(js, spec)
    subscription = await js.pull_subscribe_bind(spec.durable_name, spec.stream)
    try:
        while not stopping.is_set():
            try:
                messages = await subscription.fetch(batch, timeout=poll_seconds)
            except (NatsTimeoutError, TimeoutError):
                continue
            if concurrent:
                await asyncio.gather(*(_handle(msg, model, handler) for msg in messages))
            else:
                for msg in messages:
                    await _handle(msg, model, handler)
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
