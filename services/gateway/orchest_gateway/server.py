"""Serving the app with uvicorn inside the service lifecycle.

The gateway binds its listening socket itself and hands it to uvicorn: with
``ORCHEST_REUSE_PORT`` the socket takes ``SO_REUSEPORT``, so several gateway
processes listen on one port and the kernel spreads the connections among
them (``orchest up --gateways N``, ``docs/scale-out.md``), each process with
its own live-events feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orchest_service.service import ServiceContext

from .app import create_app
from .deps import GatewayDeps
from .fanout import EventFeed
from .settings import GatewaySettings
from .sse import ABORT_EXTENSION, CHUNK_WRITER_EXTENSION, WRITABLE_EXTENSION
from .streams import OrderedReader


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service lifecycle owns
    SIGTERM and tells uvicorn to exit through ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HeadWithBody:
    """A connection's transport as uvicorn's request cycles write to it: the
    head of a response whose length is known (``content-length``) is held
    and leaves with the body's first write, in one send. uvicorn writes the
    head, then the body: two system calls, two segments, two wake-ups of
    the client, for every answer with a body (a created run's ``201``; an
    empty ``204`` has no body and was one write already). A response
    streamed without a length (the event streams) is not held: its head
    leaves at once, as its client waits for it before any event."""

    __slots__ = ("_held", "_transport", "hold_next")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self.hold_next = False
        """The next write is a head to hold (set by ``held_send``)."""

    def write(self, data: bytes) -> None:
        if self.hold_next:
            self.hold_next = False
            self._held = data
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        self._transport.write(data)

    def close(self) -> None:
        # uvicorn closes a connection whose app failed after the head: the
        # head goes out first, as it would have without holding it.
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)

    def held_send(self, send: Send) -> Send:
        """``send``, holding the head of a response with a known length."""

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, _ in message.get("headers", ()):
                    if name == b"content-length":
                        self.hold_next = True
                        break
                try:
                    await send(message)
                finally:
                    self.hold_next = False  # uvicorn wrote no head (a client gone)
            else:
                await send(message)
                self.flush()  # a HEAD's head: no body written after it

        return sender

    def flush(self) -> None:
        if self._held is not None:
            self._transport.write(self._held)
            self._held = None


class _Protocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools (llhttp, in C: under half the
    CPU per request of h11's pure-Python parser and writer; "The accept's
    answer in one write" in ``docs/performance.md``), giving each request a
    way to abort its connection (scope extension ``orchest.abort``): an
    event stream whose client stopped reading drops it, where closing it
    would wait for the client to read what is buffered; and a way to know
    whether a send would wait (``orchest.writable``: false once the
    connection's write buffer is full, until the client read it), so an
    event stream puts a deadline only on the sends that may wait; and a
    writer of body chunks straight to the connection
    (``orchest.chunk_writer``), for the live events. A response's head and
    body leave in one write (``HeadWithBody``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app = self.app
        coalescing = HeadWithBody(transport)
        # The request cycles write through it (uvicorn hands them
        # ``self.transport``); flow control keeps the transport itself.
        self.transport = coalescing  # type: ignore[assignment]

        def writable() -> bool:
            return not self.flow.write_paused

        def write_chunk(data: bytes) -> bool:
            if self.flow.write_paused or transport.is_closing():
                return False
            transport.write(data)
            return True

        def chunk_writer() -> Callable[[bytes], bool] | None:
            # uvicorn frames the body in chunks for an HTTP/1.1 client (no
            # content-length is sent): raw chunks then fit between its own.
            cycle = self.cycle
            if (
                cycle is None
                or not cycle.response_started
                or cycle.response_complete
                or not cycle.chunked_encoding
                or cycle.scope["http_version"] != "1.1"
            ):
                return None
            return write_chunk

        async def with_extensions(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = scope.setdefault("extensions", {})
            extensions[ABORT_EXTENSION] = transport.abort
            extensions[WRITABLE_EXTENSION] = writable
            extensions[CHUNK_WRITER_EXTENSION] = chunk_writer
            await app(scope, receive, coalescing.held_send(send))

        self.app = with_extensions


KEEP_ALIVE_SECONDS = 75
"""How long an idle keep-alive connection stays open (uvicorn's default: 5 s).
Longer than clients keep theirs (httpx: 5 s, as the CLI and the tests use;
browsers longer, but they retry): a server that closes an idle connection
when its client sends on it fails that request (the client reads EOF), and
with equal timeouts that race happens (seen in CI as an ``httpx.ReadError``)."""

BACKLOG = 2048
"""Connections the kernel queues before the gateway accepts them (uvicorn's
default): a thousand dashboards reconnecting at once are queued, not refused."""


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound, listening, non-blocking TCP socket; raises ``OSError`` when
    the address is taken (by a process that did not set ``SO_REUSEPORT``
    too, when ``reuse_port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on connections of a socket that says TCP. Without
    # it, a response written in two parts (head, then body) waited for the
    # client's delayed ACK: 40 ms more for every POST, and live events held
    # back behind the one before.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_http(ctx: ServiceContext, settings: GatewaySettings, version: str) -> None:
    def tail() -> OrderedReader:
        return OrderedReader(
            ctx.js,
            ctx.nc,
            settings.bus.events_stream.name,
            settings.bus.all_events,
            after=None,
            replay=False,
            window=settings.read_window,
        )

    feed = EventFeed(
        tail,
        queue_limit=settings.sse_queue_events,
        keepalive_seconds=settings.sse_keepalive_seconds,
        linger_seconds=settings.sse_feed_linger_seconds,
    )
    deps = GatewayDeps(
        settings=settings, nc=ctx.nc, js=ctx.js, pool=ctx.db, version=version, feed=feed
    )
    app = create_app(deps)
    try:
        sock = listening_socket(settings.host, settings.port, reuse_port=settings.reuse_port)
    except OSError as exc:
        raise RuntimeError(
            f"gateway could not listen on {settings.host}:{settings.port}: {exc}"
        ) from exc
    config = uvicorn.Config(
        app,
        lifespan="off",
        # Only named: ``serve`` runs on the service's own loop (uvloop unless
        # ORCHEST_EVENT_LOOP=asyncio, ``orchest_service.loop``); uvicorn
        # makes a loop of this kind only in ``run``, which is not called.
        loop=settings.event_loop,
        backlog=BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        http=_Protocol,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout_seconds)),
    )
    server = _Server(config)

    async def exit_on_stop() -> None:
        await ctx.stopping.wait()
        deps.stopping.set()  # the event streams and followed logs cut, not drained
        server.should_exit = True

    async with asyncio.TaskGroup() as group:
        # The live events, read while an event stream listens and fanned
        # out; the gateway fails if the feed fails other than by not
        # reaching the stream (and the service is restarted).
        feeding = group.create_task(feed.run())
        stopper = group.create_task(exit_on_stop())
        try:
            await server.serve(sockets=[sock])
        finally:
            feeding.cancel()
            stopper.cancel()
            sock.close()
    if not server.started:
        raise RuntimeError(f"gateway could not listen on {settings.host}:{settings.port}")
