"""The Docker engine, through aiodocker, with a timeout on every request.

``DockerEngine.open`` makes the client: connecting to the engine is bounded
by ``DockerTimeouts.connect``; every request (create, start, copy, kill,
inspect, list, remove...) by ``DockerTimeouts.request``, a stop by its grace
period on top. Only the calls that last as long as the container does (its
exit, its followed log) have no timeout of their own: the caller bounds them
by its own deadline. Every failure is a ``DockerFailure``: a timeout is
``DockerTimeout``, an engine that cannot be reached ``DockerUnavailable``, a
404 ``DockerNotFound``.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.jsonstream import json_stream_stream

from .errors import UNREACHABLE, DockerFailure, DockerNotFound, DockerTimeout, DockerUnavailable

T = TypeVar("T")

_LOCAL_SOCKETS = (Path("/run/docker.sock"), Path("/var/run/docker.sock"))
DEFAULT_URL = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class DockerTimeouts:
    """How long the engine may take (seconds)."""

    connect: float = 5.0
    """To accept a connection."""
    request: float = 30.0
    """To answer one request."""


def engine_url(url: str | None = None) -> str:
    """``url``, else ``DOCKER_HOST``, else the local socket."""
    if url:
        return url
    if host := os.environ.get("DOCKER_HOST"):
        return host
    found = next((path for path in _LOCAL_SOCKETS if path.is_socket()), None)
    return f"unix://{found}" if found else DEFAULT_URL


def unix_socket(url: str) -> Path | None:
    """The socket of a ``unix://`` engine URL."""
    return Path(url.removeprefix("unix://")) if url.startswith("unix://") else None


class DockerEngine:
    """One client of one engine; every method is one bounded request."""

    def __init__(self, client: aiodocker.Docker, url: str, timeouts: DockerTimeouts) -> None:
        self._client = client
        self.url = url
        self.timeouts = timeouts

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str | None = None, timeouts: DockerTimeouts | None = None
    ) -> AsyncIterator[DockerEngine]:
        """A client of the engine at ``url`` (see ``engine_url``), closed after."""
        url = engine_url(url)
        timeouts = timeouts or DockerTimeouts()
        limits = aiohttp.ClientTimeout(connect=timeouts.connect, sock_connect=timeouts.connect)
        try:
            client = aiodocker.Docker(url=url, timeout=limits)
        except ValueError as exc:  # no scheme aiodocker knows
            raise DockerUnavailable("connect", f"{url}: {exc}") from exc
        try:
            yield cls(client, url, timeouts)
        finally:
            await client.close()

    # -- the engine --------------------------------------------------------------------

    async def version(self) -> dict[str, Any]:
        return await self._call("version", self._client.version)

    async def inspect_image(self, image: str) -> dict[str, Any]:
        return await self._call(f"inspect image {image}", self._client.images.inspect, image)

    async def list(self, label: str) -> list[dict[str, Any]]:
        """Every container (any state) with ``label`` (see ``label_filter``),
        as the engine lists them (``Id``, ``Names``, ``Labels``, ``State``...)."""
        filters = json.dumps({"label": [label]})
        listed = await self._call(
            f"list containers {label}", self._client.containers.list, all=True, filters=filters
        )
        return [{**getattr(item, "_container", {}), "Id": item.id} for item in listed]

    # -- one container (by id or name) ---------------------------------------------------

    async def create(self, config: dict[str, Any], name: str) -> str:
        """Create the container ``name``; its id."""
        created = await self._call(
            f"create container {name}", self._client.containers.create, config, name=name
        )
        return created.id

    async def start(self, container: str) -> None:
        await self._call(f"start container {container[:12]}", self._container(container).start)

    async def put_archive(self, container: str, path: str, archive: bytes) -> None:
        """Unpack the tar ``archive`` at ``path`` in the container."""
        handle = self._container(container)
        await self._call(
            f"copy files into container {container[:12]}",
            handle.put_archive,
            path,
            archive,
        )

    async def inspect(self, container: str) -> dict[str, Any]:
        return await self._call(
            f"inspect container {container[:12]}", self._container(container).show
        )

    async def kill(self, container: str, signal: str = "SIGKILL") -> bool:
        """Send ``signal``; ``False``: it does not run (any more), or is gone."""
        return await self._unless(
            (404, 409),
            f"kill container {container[:12]} ({signal})",
            self._container(container).kill,
            signal=signal,
        )

    async def stop(self, container: str, grace: float) -> None:
        """SIGTERM, SIGKILL after ``grace`` seconds; a stopped or gone one is fine."""
        seconds = max(0, math.ceil(grace))
        await self._unless(
            (304, 404),
            f"stop container {container[:12]}",
            self._container(container).stop,
            timeout=self.timeouts.request + seconds,
            t=seconds,
        )

    async def remove(self, container: str) -> bool:
        """Remove it, running or not, with its anonymous volumes; ``False``:
        it was gone, or the engine removes it already."""
        return await self._unless(
            (404, 409),
            f"remove container {container[:12]}",
            self._container(container).delete,
            force=True,
            v=True,
        )

    async def logs_tail(self, container: str, lines: int) -> str:
        logs: list[str] = await self._call(
            f"read the log of container {container[:12]}",
            self._container(container).log,
            stdout=True,
            stderr=True,
            tail=lines,
        )
        return "".join(logs)

    # -- calls as long as the container runs: the caller bounds them ---------------------

    async def wait(self, container: str) -> int:
        """Its exit code, once it exits (no timeout: as long as it runs)."""
        operation = f"wait for container {container[:12]}"
        with self._translated(operation):
            status = await self._container(container).wait()
        return int(status.get("StatusCode", -1))

    async def follow_log(self, container: str) -> AsyncIterator[str]:
        """Its output (stdout and stderr) as it comes, until it exits (no timeout)."""
        with self._translated(f"follow the log of container {container[:12]}"):
            async for text in self._container(container).log(stdout=True, stderr=True, follow=True):
                yield text

    # -- images --------------------------------------------------------------------------

    async def build(
        self, context: bytes | BinaryIO, tag: str, labels: dict[str, str]
    ) -> AsyncIterator[str]:
        """Build the image of ``context`` (a tar holding a ``Dockerfile``, or a
        file of one, read as it is sent) as
        ``tag``, its base never pulled, its steps run again (no build cache:
        a rebuild installs what its script names now), on the host network;
        its output as it comes (no timeout: the caller bounds it; cancelling
        ends the build). A failed build is a ``DockerFailure`` with the
        engine's message."""
        params = {
            "t": tag,
            "rm": "true",
            "forcerm": "true",
            "pull": "false",
            "nocache": "true",
            "networkmode": "host",
            "labels": json.dumps(labels),
        }
        operation = f"build image {tag}"
        with self._translated(operation):
            query = self._client._query(
                "build",
                "POST",
                params=params,
                headers={"content-type": "application/x-tar"},
                data=context,
                timeout=None,
            )
            async with query as response:
                async for item in json_stream_stream(response, raise_on_error=False):
                    if "error" in item:
                        raise DockerFailure(operation, str(item["error"]))
                    if "stream" in item:
                        yield str(item["stream"])

    async def images(self, label: str) -> builtins.list[dict[str, Any]]:
        """The images with ``label`` (``Id``, ``RepoTags``, ``Labels``, ``Created``...)."""
        listed = await self._call(
            f"list images {label}", self._client.images.list, filters={"label": [label]}
        )
        return [dict(item) for item in listed]

    async def remove_image(self, image: str) -> bool:
        """Remove it (a tag: untag it), even if a stopped container was made
        from it; ``False``: gone already, or a running container uses it."""
        return await self._unless(
            (404, 409), f"remove image {image}", self._client.images.delete, image, force=True
        )

    # -- plumbing ------------------------------------------------------------------------

    def _container(self, container: str) -> DockerContainer:
        return self._client.containers.container(container)

    async def _call(
        self,
        operation: str,
        call: Callable[..., Awaitable[T]],
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> T:
        seconds = self.timeouts.request if timeout is None else timeout
        with self._translated(operation, seconds):
            async with asyncio.timeout(seconds):
                return await call(*args, **kwargs)
        raise AssertionError("unreachable")  # for mypy: _translated re-raises

    async def _unless(
        self,
        statuses: tuple[int, ...],
        operation: str,
        call: Callable[..., Awaitable[Any]],
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """``_call``; ``False`` when the engine answers one of ``statuses``."""
        try:
            await self._call(operation, call, *args, **kwargs)
        except DockerFailure as exc:
            if exc.status in statuses:
                return False
            raise
        return True

    @contextmanager
    def _translated(self, operation: str, seconds: float | None = None) -> Iterator[None]:
        try:
            yield
        except TimeoutError as exc:  # asyncio's, or aiohttp's connect timeout
            raise DockerTimeout(operation, self.url, seconds or self.timeouts.connect) from exc
        except aiodocker.DockerError as exc:
            if exc.status == UNREACHABLE:
                raise DockerUnavailable(operation, exc.message, exc.status) from exc
            if exc.status == 404:
                raise DockerNotFound(operation, exc.message, exc.status) from exc
            raise DockerFailure(operation, exc.message, exc.status) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DockerUnavailable(operation, f"{type(exc).__name__}: {exc}") from exc
