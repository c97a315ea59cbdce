"""The runner's side of the view holder (``holder_main.py``): the process
holding the mount namespace the step views live in (``isolation.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..scratch import runner_directory
from .entering import Within

logger = logging.getLogger(__name__)

HOLDER_SCRIPT = Path(__file__).with_name("holder_main.py")
HOLDER_START_SECONDS = 30.0
HOLDER_REPLY_SECONDS = 30.0


class IsolationError(Exception):
    """The step's view could not be made."""


class ViewHolder:
    """The runner's side of the view holder: one request at a time, its reply
    awaited, except a view's drop at the end of its attempt (``drop_soon``):
    the holder still does it at once, the runner reads its reply before the
    next one. The holder answers in order, so the replies owed come first."""

    def __init__(self, process: asyncio.subprocess.Process, pid: int, base: Path) -> None:
        self._process = process
        self.pid = pid
        self.base = base
        """The folder of the holder's own tmpfs, where its kept views are."""
        self._lock = asyncio.Lock()
        self._owed = 0
        """Replies not read yet: of drops sent without waiting, of requests
        abandoned (cancelled, timed out), and of the request being made."""
        self._nsenter = shutil.which("nsenter") or "nsenter"
        """Found once, on the runner's ``PATH`` (not each step's)."""
        self._namespace = -1
        """Its mount namespace, open once a step is started in it (``within``)."""

    @classmethod
    async def start(cls, python: str = sys.executable) -> ViewHolder:
        """A holder whose tmpfs is on a new folder of the runner's folder
        (``scratch.py``: removed with it if the runner dies)."""
        base = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix="views-", dir=runner_directory())
        )
        try:
            process = await asyncio.create_subprocess_exec(
                python,
                "-I",
                "-S",
                str(HOLDER_SCRIPT),
                str(base),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            await asyncio.to_thread(_remove, base)
            raise
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), HOLDER_START_SECONDS)
            ready = json.loads(line or b"{}")
            if "ready" not in ready:
                raise IsolationError(ready.get("error") or "the view holder did not start")
        except BaseException:
            await _end(process)
            await asyncio.to_thread(_remove, base)
            raise
        return cls(process, int(ready["ready"]), base)

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    @property
    def exit_status(self) -> int | None:
        return self._process.returncode

    async def _request(self, request: dict[str, Any]) -> None:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        async with self._lock:
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                # Owed until read: a request cancelled or timed out after its
                # write leaves its reply to be skipped by the next request.
                self._owed += 1
                # One deadline for the exchange (no task per read, as wait_for makes).
                async with asyncio.timeout(HOLDER_REPLY_SECONDS):
                    await process.stdin.drain()
                    while self._owed > 1:  # the drops (or abandoned requests) before this one
                        earlier = await process.stdout.readline()
                        self._owed -= 1
                        try:
                            _check(earlier)
                        except IsolationError as exc:
                            logger.debug("the view holder did not drop a view: %s", exc)
                    line = await process.stdout.readline()
                    self._owed -= 1
            except (OSError, TimeoutError) as exc:
                raise IsolationError(f"the view holder does not answer: {exc!r}") from exc
        _check(line)

    async def make(self, root: Path, binds: list[tuple[Path, str, bool]]) -> None:
        wire = [[str(source), name, read_only] for source, name, read_only in binds]
        await self._request({"op": "make", "root": str(root), "binds": wire})

    async def prepare(self, root: Path, places: list[tuple[str, bool]]) -> None:
        await self._request({"op": "prepare", "root": str(root), "places": places})

    async def fill(self, root: Path, binds: list[tuple[Path, str, bool]]) -> None:
        wire = [[str(source), name, read_only] for source, name, read_only in binds]
        await self._request({"op": "fill", "root": str(root), "binds": wire})

    async def keep(self, name: str, binds: list[tuple[Path, str, bool]]) -> None:
        """Make a view to keep at ``root_of(name)`` (in the holder's tmpfs)."""
        wire = [[str(source), place, read_only] for source, place, read_only in binds]
        await self._request({"op": "keep", "name": name, "binds": wire})

    def root_of(self, name: str) -> Path:
        """Where the kept view ``name`` is (in the holder's namespace only)."""
        return self.base / name

    async def drop(self, root: Path) -> None:
        await self._request({"op": "drop", "root": str(root)})

    def drop_soon(self, root: Path) -> None:
        """Send the drop of ``root`` without waiting for its reply (the holder
        detaches the view as it reads the request; a failure is only logged,
        as a failed ``drop`` is ignored)."""
        stdin = self._process.stdin
        if stdin is None or not self.alive:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):  # ended: the view with it
            stdin.write(json.dumps({"op": "drop", "root": str(root)}).encode() + b"\n")
            self._owed += 1

    def within(self, root: Path) -> Within:
        """The view at ``root`` as ``spawn.start`` enters it (``entering.py``)."""
        if self._namespace < 0:
            self._namespace = os.open(f"/proc/{self.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        return Within(self._namespace, root)

    def prefix(self, root: Path, cwd: Path) -> list[str]:
        """The command that starts what follows it inside the view at ``root``."""
        ns = f"/proc/{self.pid}"
        user = [f"--user={ns}/ns/user", "--preserve-credentials"] if os.getuid() else []
        return [
            self._nsenter,
            *user,
            f"--mount={ns}/ns/mnt",
            f"--root={ns}/root{root}",
            f"--wdns={cwd}",
            "--",
        ]

    async def close(self) -> None:
        """End the holder (its views with its namespace), then remove its folder."""
        if self._namespace >= 0:  # held open, it would keep the namespace alive
            os.close(self._namespace)
            self._namespace = -1
        await _end(self._process)
        await asyncio.to_thread(_remove, self.base)


def _remove(base: Path) -> None:
    with contextlib.suppress(OSError):  # removed with the runner's folder already
        base.rmdir()


def _check(line: bytes) -> None:
    """Raise the error of a reply (``b""``: the holder ended)."""
    reply = json.loads(line or b'{"ok": false, "error": "the view holder ended"}')
    if not reply.get("ok"):
        raise IsolationError(str(reply.get("error")))


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await process.wait()
