"""The gateway's own listening socket (it binds it for ``SO_REUSEPORT``):
the connections asyncio accepts on it send without Nagle's delay, as on a
socket asyncio made itself."""

from __future__ import annotations

import asyncio
import socket

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
