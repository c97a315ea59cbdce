"""Pull requests of the runner's own on a durable JetStream consumer.

The runner needs two kinds of request that nats-py's ``fetch`` does not give:
a *look* that answers at once whether work is waiting (a batch 1 fetch
lingers; a batch n fetch sends its no-wait probe with an ``expires``, which
the server turns into a lingering request), and a *poll* that hands each
message over as it arrives instead of returning a batch. And the runner must
be able to tell which request a status answers: ``fetch`` gives all its
requests one reply subject, so the late "expired" of one request can be read
as the "no messages" of the next.

So a ``Puller`` speaks JetStream's pull protocol itself: a JSON request on
``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``, each with a reply subject
of its own under one subscription (one callback, so everything it receives is
handled in the order it arrived):

- every delivered message goes to ``on_message``, whichever request it
  answers;
- a status answers the request named by its reply subject: ``404`` (no
  messages) and ``408`` (expired, or what is there is promised to requests
  that came first) end the request with nothing more for it; any other
  status (a conflict, JetStream unavailable) is logged and the request is
  left to its deadline, so a persistent refusal does not make the caller spin;
- a request also ends once it has received its batch (the server serves
  requests first come, first served, so a message is counted against the
  oldest open request), or at its client-side deadline (an answer lost to a
  reconnect); a status of a request that has ended is ignored.

``on_change`` is called whenever a request ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX

logger = logging.getLogger(__name__)

NOTHING_MORE = frozenset({"404", "408"})
"""Statuses that end a request with nothing more for it."""
HEARTBEAT = "100"
DEADLINE_GRACE_SECONDS = 0.25
"""A poll still open this long after its expiry has lost its status."""
CLOSE_SECONDS = 2.0
"""How long closing waits for the server to confirm the unsubscription."""


@dataclass(eq=False)
class Pull:
    """One pull request: ``lingers`` up to its expiry, or asks without waiting."""

    batch: int
    lingers: bool
    remaining: int
    ended: bool = False
    status: str | None = None
    """The status that ended it; None if it received its batch or timed out."""
    timer: asyncio.TimerHandle | None = None

    @property
    def filled(self) -> bool:
        """It received its whole batch."""
        return self.remaining == 0

    @property
    def found_nothing_more(self) -> bool:
        """The server said it had nothing (more) for this request."""
        return self.status in NOTHING_MORE


class Puller:
    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        *,
        on_message: Callable[[Msg], Awaitable[None]],
        on_change: Callable[[], None],
    ) -> None:
        self._nc = nc
        self._next = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._on_message = on_message
        self._on_change = on_change
        self._open: dict[str, Pull] = {}  # in the order they were sent
        self._tokens = itertools.count()
        self._idle = asyncio.Event()
        self._idle.set()
        self._subscription: Subscription | None = None

    async def open(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self._inbox}.*", cb=self._received)

    async def close(self) -> None:
        """Send nothing more; wait for the open requests to end (what they still
        deliver goes to ``on_message``), then handle what was received and
        unsubscribe."""
        await self._idle.wait()  # each open request ends by its deadline at the latest
        if self._subscription is None:
            return
        try:
            await asyncio.wait_for(
                self._subscription.drain(),  # type: ignore[no-untyped-call]
                CLOSE_SECONDS,
            )
        except Exception as exc:  # NATS is down or closing: what is left is redelivered
            logger.warning("pull subscription not drained: %r", exc)
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    @property
    def polling(self) -> bool:
        """A poll is open (the server hands it work as soon as some is published)."""
        return any(pull.lingers for pull in self._open.values())

    async def look(self, batch: int, timeout: float) -> Pull:
        """Ask for up to ``batch`` messages that are waiting now, without waiting
        for more: it ends with the last of them, or ``404``/``408`` if fewer."""
        return await self._send(batch, {"no_wait": True}, lingers=False, deadline=timeout)

    async def poll(self, batch: int, seconds: float) -> Pull:
        """Ask for up to ``batch`` messages, each handed over as it is published,
        for ``seconds``."""
        body = {"expires": int(seconds * 1e9)}
        deadline = seconds + DEADLINE_GRACE_SECONDS
        return await self._send(batch, body, lingers=True, deadline=deadline)

    async def _send(
        self, batch: int, body: dict[str, Any], *, lingers: bool, deadline: float
    ) -> Pull:
        token = str(next(self._tokens))
        pull = Pull(batch=batch, lingers=lingers, remaining=batch)
        pull.timer = asyncio.get_running_loop().call_later(deadline, self._end, token, None)
        self._open[token] = pull
        self._idle.clear()
        try:
            request = json.dumps({"batch": batch, **body}).encode()
            await self._nc.publish(self._next, request, reply=f"{self._inbox}.{token}")
        except BaseException:
            self._end(token, None)
            raise
        return pull

    def _end(self, token: str, status: str | None) -> None:
        pull = self._open.pop(token, None)
        if pull is None:
            return
        pull.ended = True
        pull.status = status
        if pull.timer is not None:
            pull.timer.cancel()
        if not self._open:
            self._idle.set()
        self._on_change()

    async def _received(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:  # work
            for token, pull in self._open.items():
                if pull.remaining > 0:
                    pull.remaining -= 1
                    if pull.remaining == 0:
                        self._end(token, None)
                    break
            await self._on_message(msg)
        elif status != HEARTBEAT:
            token = msg.subject.rpartition(".")[2]
            if status in NOTHING_MORE:
                self._end(token, status)
            elif token in self._open:
                description = msg.headers.get("Description", "") if msg.headers else ""
                logger.warning("pull request on %s refused: %s %s", self._next, status, description)
