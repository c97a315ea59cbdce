"""A Unix-socket proxy in front of the real Docker engine that stops answering
chosen requests: an engine that hangs, without touching the shared dockerd.

Every connection to the proxy gets its own connection to the engine; the
requests on it are framed (head, then a ``Content-Length`` or chunked body)
and forwarded one by one, the engine's answers copied back as they come
(followed logs included). A request matching a rule set with ``hang`` is
neither forwarded nor answered: the proxy keeps reading its connection and
drops what it reads, until the client gives up and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

ENGINE_SOCKET = Path("/var/run/docker.sock")


@dataclass
class Hang:
    """Requests whose method is ``method`` and whose target matches ``target``."""

    method: str
    target: re.Pattern[str]
    swallowed: list[str] = field(default_factory=list)
    """The request lines swallowed so far."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, method: str, target: str) -> bool:
        return method == self.method and self.target.search(target) is not None


class EngineProxy:
    """``async with EngineProxy(path) as proxy``: the engine at ``proxy.url``."""

    def __init__(self, path: Path, engine: Path = ENGINE_SOCKET) -> None:
        self.path = path
        self.engine = engine
        self.hangs: list[Hang] = []
        self.forwarded: list[str] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def hang(self, method: str, target: str) -> Hang:
        """From now on, swallow the requests ``method`` to a target matching ``target``."""
        rule = Hang(method, re.compile(target))
        self.hangs.append(rule)
        return rule

    async def __aenter__(self) -> EngineProxy:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        await self._server.wait_closed()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        from_engine, to_engine = await asyncio.open_unix_connection(str(self.engine))
        answers = asyncio.create_task(_copy(from_engine, to_client))
        try:
            while True:
                head = await client.readuntil(b"\r\n\r\n")
                body = await _body(client, head)
                method, target, *_ = head.split(b"\r\n", 1)[0].decode().split(" ")
                rule = next((r for r in self.hangs if r.matches(method, target)), None)
                if rule is not None:
                    rule.swallowed.append(f"{method} {target}")
                    rule.arrived.set()
                    while await client.read(65536):
                        pass  # dropped: the engine never hears of it
                    return
                self.forwarded.append(f"{method} {target}")
                to_engine.write(head + body)
                await to_engine.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client closed its connection
        finally:
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answers
            for writer in (to_engine, to_client):
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            self._connections.discard(task)


async def _body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The request's body, as sent (chunked bodies with their framing)."""
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (
            line.partition(b":") for line in head.split(b"\r\n")[1:] if b":" in line
        )
    }
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        raw = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            raw += size_line + await reader.readexactly(size + 2)
            if size == 0:
                return raw
    length = int(headers.get(b"content-length", b"0"))
    return await reader.readexactly(length) if length else b""


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
