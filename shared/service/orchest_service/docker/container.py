"""A container followed while it runs: started, its exit awaited and its
output followed in tasks of its own, stopped (SIGTERM, then SIGKILL), removed
however its owner ends. Every request goes through ``DockerEngine`` (bounded);
the exit and the log last as long as the container and end with ``remove``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .engine import DockerEngine
from .errors import DockerFailure, DockerTimeout

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 2.0
"""How long the log is still read once the container has exited, and a
killed container is waited for."""

Output = Callable[[str], Awaitable[None]]


class Container:
    """A created container (``ref``: its id, or its name when the create was
    not answered). ``exited`` resolves to its exit code (-1: not known)."""

    def __init__(self, engine: DockerEngine, ref: str) -> None:
        self.engine = engine
        self.ref = ref
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting: asyncio.Task[None] | None = None
        self._following: asyncio.Task[None] | None = None

    @property
    def short_id(self) -> str:
        return self.ref[:12]

    async def start(self, output: Output | None = None) -> None:
        """Start it; its exit is awaited, and its log sent to ``output``, until
        ``remove``."""
        await self.engine.start(self.ref)
        self._waiting = asyncio.create_task(self._wait())
        if output is not None:
            self._following = asyncio.create_task(self._follow(output))

    async def _wait(self) -> None:
        try:
            code = await self.engine.wait(self.ref)
        except DockerFailure as exc:  # removed meanwhile, or the engine went away
            logger.warning("waiting for container %s failed: %s", self.short_id, exc)
            code = -1
        if not self.exited.done():
            self.exited.set_result(code)

    async def _follow(self, output: Output) -> None:
        with contextlib.suppress(DockerFailure):
            async for text in self.engine.follow_log(self.ref):
                await output(text)

    async def stop(self, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL once ``grace_seconds`` passed."""
        await self.engine.kill(self.ref, "SIGTERM")
        await asyncio.wait({self.exited}, timeout=grace_seconds)
        if not self.exited.done():
            await self.kill()

    async def kill(self) -> None:
        """SIGKILL, and a short wait for its exit."""
        await self.engine.kill(self.ref, "SIGKILL")
        await asyncio.wait({self.exited}, timeout=DRAIN_SECONDS)

    async def exit_code(self) -> int:
        """The exit code of a container that was stopped or has exited; an
        engine that does not say within its request timeout is ``DockerTimeout``."""
        seconds = self.engine.timeouts.request
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), seconds)
        except TimeoutError as exc:
            operation = f"wait for container {self.short_id}"
            raise DockerTimeout(operation, self.engine.url, seconds) from exc

    async def drain(self) -> None:
        """Let the log reach its end (briefly)."""
        if self._following is not None:
            await asyncio.wait({self._following}, timeout=DRAIN_SECONDS)

    async def out_of_memory(self) -> bool:
        with contextlib.suppress(DockerFailure):
            info = await self.engine.inspect(self.ref)
            return bool(info.get("State", {}).get("OOMKilled"))
        return False

    async def remove(self) -> None:
        """End the tasks and remove the container; a failure is logged (the
        reaping of a later start removes what is left)."""
        tasks = {task for task in (self._waiting, self._following) if task is not None}
        for task in tasks:
            task.cancel()
        try:
            await self.engine.remove(self.ref)
        except DockerFailure as exc:
            logger.warning("container %s not removed: %s", self.short_id, exc)
        if tasks:
            await asyncio.wait(tasks)
