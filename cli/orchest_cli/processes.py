"""Starting and stopping child processes that must not outlive their parent.

Every child gets ``PR_SET_PDEATHSIG``: if the supervisor dies, even by
``kill -9``, the kernel signals its children, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl


def die_with_parent(sig: int, user: str | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that switches to ``user`` (as ``Popen``'s ``user=``
    does: the real and effective uid), then asks the kernel to send ``sig``
    when the parent dies (after the switch, which would clear the setting).

    The switch is made here rather than by ``user=``, which uvloop's
    ``subprocess_exec`` does not take (``orchest_service.loop``): the tests
    start the embedded servers on the services' loop.
    """
    uid = None if user is None else pwd.getpwnam(user).pw_uid

    def preexec() -> None:
        if uid is not None:
            os.setreuid(uid, uid)
        _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log: IO[bytes] | int | None = None,
    stderr_pipe: bool = False,
    user: str | None = None,
    parent_death_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
    stdin_pipe: bool = False,
) -> asyncio.subprocess.Process:
    """Start ``argv``; output goes to ``log`` (or stderr to a pipe to watch);
    with ``stdin_pipe``, its stdin is a pipe to write to (else nothing)."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
        stdout=log if log is not None else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE if stderr_pipe else (log if log is not None else None),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        preexec_fn=die_with_parent(parent_death_signal, user),
    )


async def stop_process(
    proc: asyncio.subprocess.Process,
    *,
    name: str,
    first_signal: int = signal.SIGTERM,
    grace_seconds: float = 10.0,
) -> int:
    """Signal, wait up to ``grace_seconds``, then kill. Returns the exit code."""
    if proc.returncode is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(first_signal)
    try:
        return await asyncio.wait_for(proc.wait(), grace_seconds)
    except TimeoutError:
        logger.warning(
            "%s (pid %d) still running after %.0fs: killing", name, proc.pid, grace_seconds
        )
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return await proc.wait()


async def pump_until(
    stream: asyncio.StreamReader,
    sink: IO[bytes],
    marker: bytes,
    found: asyncio.Event,
) -> None:
    """Copy ``stream`` to ``sink`` line by line; set ``found`` at the first
    line holding ``marker``. Runs until the stream ends."""
    while line := await stream.readline():
        sink.write(line)
        sink.flush()
        if not found.is_set() and marker in line:
            found.set()


async def wait_ready(
    proc: asyncio.subprocess.Process,
    ready: asyncio.Event,
    *,
    name: str,
    timeout: float,
    log_path: Path,
) -> None:
    """Wait for ``ready``; fail with the log's tail if the process exits first."""
    exited = asyncio.create_task(proc.wait())
    became_ready = asyncio.create_task(ready.wait())
    try:
        done, _ = await asyncio.wait(
            {exited, became_ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        exited.cancel()
        became_ready.cancel()
    if ready.is_set():
        return
    tail = tail_of(log_path)
    if exited in done:
        raise EmbeddedStartError(f"{name} exited with code {proc.returncode}:\n{tail}")
    raise EmbeddedStartError(f"{name} not ready after {timeout:.0f}s:\n{tail}")


def tail_of(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def process_identity(pid: int) -> dict[str, float | int]:
    """A pid with its start time: a later pid reuse is not mistaken for it."""
    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.NoSuchProcess:
        return {"pid": pid, "create_time": 0.0}


def find_process(identity: Mapping[str, float | int]) -> psutil.Process | None:
    """The process ``identity`` names, if it still runs (and is not a reused pid)."""
    try:
        proc = psutil.Process(int(identity["pid"]))
        if abs(proc.create_time() - float(identity["create_time"])) > 0.01:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, KeyError, ValueError, TypeError):
        return None
    return proc


class EmbeddedStartError(Exception):
    """An embedded server or service did not come up."""
