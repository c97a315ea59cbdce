"""The gateway's own listening socket (it binds it for ``SO_REUSEPORT``):
the connections asyncio accepts on it send without Nagle's delay, as on a
socket asyncio made itself; and its connections' keep-alive."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sessions_harness import gateway_alone

from orchest_gateway.server import listening_socket


async def test_accepted_connections_send_without_nagles_delay() -> None:
    sock = listening_socket("127.0.0.1", 0, reuse_port=True)
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made = transport.get_extra_info("socket")
            nodelay.set_result(made.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Server, sock=sock)
    try:
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(nodelay, 10) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


HTTPX_KEEPALIVE_EXPIRY = 5.0
"""How long httpx reuses an idle connection (``httpx.Limits``' default)."""


async def test_an_idle_connection_outlives_the_clients_reuse_of_it(
    service_settings: Callable[..., Any],
) -> None:
    # A server that closes an idle connection as its client sends a request
    # on it fails that request: it must keep it longer than clients reuse it.
    assert httpx.Limits().keepalive_expiry == HTTPX_KEEPALIVE_EXPIRY
    async with gateway_alone(service_settings, migrate=False) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(gateway.url).port)
        try:
            writer.write(b"GET /api/openapi.json HTTP/1.1\r\nHost: gateway\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await asyncio.wait_for(reader.readexactly(length), 30)
            # Idle past the clients' expiry: the gateway has not closed it.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(1), HTTPX_KEEPALIVE_EXPIRY + 1.0)
        finally:
            writer.close()
