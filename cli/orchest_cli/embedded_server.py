"""What the embedded servers share: a loopback port, and a child process
whose log is pumped to a file until it says it is ready, stopped with a
signal and a grace period. ``EmbeddedServer`` is an async context manager:
``async with EmbeddedNats(...) as nats: nats.url``."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .processes import EmbeddedStartError, pump_until, spawn, stop_process, wait_ready

LOOPBACK = "127.0.0.1"
PORT_TRIES = 5
"""A server whose chosen port was taken before it bound it starts again on another."""
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on, below the kernel's ephemeral range when one
    is free there: the server binds it a moment later (Postgres after its
    ``initdb``), and a port of that range can be taken meanwhile by any
    outgoing connection or any other program's bind to port 0."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low > 2048:
        for _ in range(64):
            port = random.randrange(max(1024, low // 2), low)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        found: int = sock.getsockname()[1]
        return found


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


async def on_a_free_port(
    server: EmbeddedServer, start: Callable[[], Awaitable[None]], port_given: bool
) -> None:
    """``start()``; when the server could not bind the port chosen for it
    (another program took it first), again on another, ``PORT_TRIES`` times
    in all. A port given by the caller is not changed."""
    for tries_left in range(PORT_TRIES - 1, -1, -1):
        try:
            await start()
            return
        except EmbeddedStartError as exc:
            if port_given or not tries_left or "address already in use" not in str(exc).lower():
                raise
            server.port = free_port()


class EmbeddedServer:
    """A server child process of the stack, its log in ``log_path``."""

    name = "server"
    port: int

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.pid

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc

    async def _start_watching(
        self, argv: list[str], marker: bytes, timeout: float, **spawn_args: object
    ) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = await spawn(argv, stderr_pipe=True, **spawn_args)  # type: ignore[arg-type]
        assert self._proc.stderr is not None
        ready = asyncio.Event()
        self._pump = asyncio.create_task(pump_until(self._proc.stderr, self._log, marker, ready))
        try:
            await wait_ready(
                self._proc, ready, name=self.name, timeout=timeout, log_path=self.log_path
            )
        except BaseException:
            await self.stop()
            raise

    async def _stop_with(self, first_signal: int, grace_seconds: float) -> None:
        if self._proc is not None:
            await stop_process(
                self._proc, name=self.name, first_signal=first_signal, grace_seconds=grace_seconds
            )
        if self._pump is not None:
            await self._pump
            self._pump = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
