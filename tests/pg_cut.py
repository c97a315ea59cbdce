"""A TCP proxy in front of the real Postgres that breaks one client connection
around the commit of a transaction writing a chosen table.

It reads the frontend/backend protocol as it passes: a statement is a target
when its text holds ``marker`` (a ``Parse`` naming it, or a simple ``Query``);
a connection that executes one (``Bind`` of a target statement) while the
proxy is armed is the one to break, once:

- ``after-commit``: the server's answer is held from that point; when it says
  the transaction is over (``ReadyForQuery``, status idle: Postgres committed
  before sending it) the client connection is cut and nothing of the answer
  reaches it. The commit happened; its reply was lost.
- ``before-commit``: the client connection is cut when the client sends the
  ``Sync`` that ends the implicit transaction of the target statement; that
  ``Sync`` reaches the server only once ``release()`` is called, so the commit
  happens after the client has seen its connection break and given up.

``cut`` is set when the client connection has been cut; ``committed`` when
the server said the held transaction was over; ``server_gone`` when the
server ended the cut connection itself (its backend terminated: it can no
longer commit anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
CANCEL_REQUEST = 80877102


@dataclass
class _Connection:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    targets: set[str] = field(default_factory=set)
    negotiations: int = 0
    """Answers of one byte the server owes (SSL and GSS requests)."""
    doomed: bool = False
    """Executed a target while the proxy was armed: the one to cut."""
    held: list[bytes] = field(default_factory=list)
    client_gone: bool = False


class CommitCutter:
    def __init__(self, upstream_port: int, marker: bytes, host: str = "127.0.0.1") -> None:
        self._host = host
        self._upstream = upstream_port
        self._marker = marker
        self._mode: str | None = None
        self._victim: _Connection | None = None
        self._released = asyncio.Event()
        self.cut = asyncio.Event()
        self.committed = asyncio.Event()
        self.server_gone = asyncio.Event()
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def arm(self, mode: str) -> None:
        """Break the next connection that executes a target statement (once)."""
        assert mode in ("after-commit", "before-commit")
        self._mode = mode
        self._victim = None
        self.cut.clear()
        self.committed.clear()
        self.server_gone.clear()
        self._released.clear()

    def release(self) -> None:
        """``before-commit``: let the held ``Sync`` reach the server (it commits)."""
        self._released.set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._accept, self._host, 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self.port
        finally:
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self._host, self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        conn = _Connection(writer, up_writer)
        for pump in (self._from_client(reader, conn), self._from_server(up_reader, conn)):
            task = asyncio.create_task(pump)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- client to server --------------------------------------------------------------

    async def _from_client(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        try:
            while True:  # untyped messages first: SSL/GSS requests, then startup
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                rest = await reader.readexactly(length - 8)
                if code in (SSL_REQUEST, GSS_REQUEST):
                    conn.negotiations += 1
                conn.server.write(head + rest)
                if code not in (SSL_REQUEST, GSS_REQUEST):
                    break
            while True:
                kind = await reader.readexactly(1)
                length = struct.unpack("!i", await reader.readexactly(4))[0]
                body = await reader.readexactly(length - 4)
                if await self._client_message(conn, kind, body):
                    return
                conn.server.write(kind + struct.pack("!i", length) + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not conn.doomed:
                conn.server.close()

    async def _client_message(self, conn: _Connection, kind: bytes, body: bytes) -> bool:
        """Note targets; True when the connection was cut here (stop reading)."""
        if kind == b"P":
            name, query = body.split(b"\0")[:2]
            if self._marker in query:
                conn.targets.add(name.decode())
            else:
                conn.targets.discard(name.decode())
        elif kind == b"B":
            statement = body.split(b"\0")[1].decode()
            if statement in conn.targets:
                self._doom(conn)
        elif kind == b"Q" and self._marker in body:
            self._doom(conn)
        elif kind == b"S" and conn.doomed and self._mode == "before-commit":
            self._cut_client(conn)
            await self._released.wait()
            conn.server.write(kind + struct.pack("!i", len(body) + 4) + body)
            return True
        return False

    def _doom(self, conn: _Connection) -> None:
        if self._mode is not None and self._victim is None:
            conn.doomed = True
            self._victim = conn

    # -- server to client --------------------------------------------------------------

    async def _from_server(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        try:
            while conn.negotiations:
                conn.negotiations -= 1
                self._to_client(conn, await reader.readexactly(1))
            while True:
                kind = await reader.readexactly(1)
                head = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack("!i", head)[0] - 4)
                message = kind + head + body
                if conn.doomed and self._mode == "after-commit":
                    conn.held.append(message)
                    failed = any(m[:1] == b"E" for m in conn.held)
                    if kind == b"Z" and body == b"I" and not failed:  # over: committed
                        self.committed.set()
                        self._cut_client(conn)
                        conn.server.close()
                        return
                    if kind == b"Z":
                        self._flush(conn)
                        if failed:  # rolled back: the next target is the one
                            conn.doomed = False
                            self._victim = None
                    continue
                if kind == b"Z" and body == b"I" and conn.doomed:
                    self.committed.set()  # before-commit: the released Sync committed
                    conn.server.close()
                    return
                self._to_client(conn, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            if conn.doomed:
                self.server_gone.set()
        finally:
            if not conn.doomed:
                conn.client.close()

    def _flush(self, conn: _Connection) -> None:
        for message in conn.held:
            self._to_client(conn, message)
        conn.held.clear()

    def _to_client(self, conn: _Connection, data: bytes) -> None:
        if not conn.client_gone:
            conn.client.write(data)

    def _cut_client(self, conn: _Connection) -> None:
        conn.client_gone = True
        conn.held.clear()
        conn.client.transport.abort()
        self._mode = None
        self.cut.set()
