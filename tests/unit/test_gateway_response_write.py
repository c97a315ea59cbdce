"""A response's head and body leave the gateway in one write
(``server.HeadWithBody``), over a real socket and uvicorn's real protocol:
the writes reaching the connection's transport are recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.server import ServerState

from orchest_gateway.server import _Protocol
from orchest_gateway.sse import CHUNK_WRITER_EXTENSION

BODY = {"uuid": "r", "steps": ["a" * 100]}


class Recorder:
    """A transport's writes, recorded, passed on."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Served:
    def __init__(self) -> None:
        self.recorders: list[Recorder] = []
        self.release = asyncio.Event()
        self.writers: list[bool] = []
        """Whether ``orchest.chunk_writer`` gave a writer, per request asking."""


@pytest.fixture
async def served() -> AsyncIterator[tuple[Served, int]]:
    state = Served()

    async def created(request: Request) -> Response:
        await request.body()
        return JSONResponse(BODY, status_code=201)

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    async def fails(request: Request) -> Response:
        raise RuntimeError("the handler failed")

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            await state.release.wait()
            yield b"data: 1\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def direct(request: Request) -> Response:
        writer_of = request.scope["extensions"][CHUNK_WRITER_EXTENSION]

        async def chunks() -> AsyncIterator[bytes]:
            yield b"first\n"
            writer = writer_of()
            state.writers.append(writer is not None)
            if writer is not None:
                assert writer(b"7\r\ndirect\n\r\n")

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def sized(request: Request) -> Response:
        state.writers.append(request.scope["extensions"][CHUNK_WRITER_EXTENSION]() is not None)
        return JSONResponse(BODY)

    app = Starlette(
        routes=[
            Route("/direct", direct),
            Route("/sized", sized),
            Route("/created", created, methods=["POST"]),
            Route("/empty", empty),
            Route("/fails", fails),
            Route("/stream", stream),
        ]
    )
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    config.load()
    server_state = ServerState()

    class Recording(_Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            recorder = Recorder(transport)
            state.recorders.append(recorder)
            super().connection_made(recorder)  # type: ignore[arg-type]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Recording(config, server_state, {}), "127.0.0.1", 0)
    try:
        yield state, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(server_state.connections):
            connection.shutdown()
        await server.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await asyncio.wait_for(reader.readexactly(length), 10)


async def test_a_response_with_a_body_is_one_write(served: tuple[Served, int]) -> None:
    state, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):  # and again on the same keep-alive connection
            writer.write(b"POST /created HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
            head, body = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 201"), head
            assert body == JSONResponse(BODY).body
        (recorder,) = state.recorders
        sent = [w for w in recorder.writes if w]
        assert sent == [head + body] * 2, sent
    finally:
        writer.close()


async def test_empty_head_and_failed_answers_still_leave(served: tuple[Served, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 204") and body == b""
        writer.write(b"HEAD /created HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 405"), head  # a HEAD's head, no body
        writer.write(b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 500"), head
    finally:
        writer.close()


async def test_a_streamed_head_leaves_before_its_body(served: tuple[Served, int]) -> None:
    state, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        # The body waits for ``release``: the head must come without it.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower()
        state.release.set()
        chunk = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 10)
        assert b"data: 1" in chunk
    finally:
        writer.close()


async def test_a_head_request_gets_the_head_alone(served: tuple[Served, int]) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"HEAD /sized HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert f"content-length: {len(JSONResponse(BODY).body)}".encode() in head.lower()
        writer.write(b"GET /empty HTTP/1.1\r\nHost: t\r\n\r\n")  # no body came between
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 204"), head
    finally:
        writer.close()


async def test_chunks_written_straight_only_into_a_chunked_http_1_1_body(
    served: tuple[Served, int],
) -> None:
    state, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /direct HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        body = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 10)
        assert body == b"6\r\nfirst\n\r\n7\r\ndirect\n\r\n0\r\n\r\n", body
        writer.write(b"GET /sized HTTP/1.1\r\nHost: t\r\n\r\n")
        await read_response(reader)
    finally:
        writer.close()
    # HTTP/1.0: no chunks, so no writer.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /direct HTTP/1.0\r\nHost: t\r\n\r\n")
        await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert state.writers == [True, False, False]
