"""A process session's processes: started detached (``detach.py``: their own
session, adopted by init, so they outlive the session manager), found again
by the marker every one of them carries in its environment
(``ORCHEST_SESSION=<owner>:<session uuid>``, read from ``/proc/<pid>/environ``),
signalled only while they are the process that was found (psutil's start
time guards a reused pid), and waited for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import psutil

from orchest_schemas.session_marks import MARKER_VARIABLE, ROLE_VARIABLE

from .base import LaunchFailed

DETACH = Path(__file__).with_name("detach.py")
POLL_SECONDS = 0.05
LOG_TAIL_LINES = 15


def marked(owner: str) -> list[tuple[psutil.Process, str, str]]:
    """Every live process of ``owner``'s sessions: (process, session uuid, role)."""
    prefix = f"{owner}:"
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            environ = process.environ()
            marker = environ.get(MARKER_VARIABLE, "")
            if not marker.startswith(prefix) or is_gone(process):
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found.append((process, marker[len(prefix) :], environ.get(ROLE_VARIABLE, "")))
    return found


def marked_by(owner: str, session_uuid: str) -> list[tuple[psutil.Process, str]]:
    """The session's marked processes with their roles."""
    return [(p, role) for p, uuid, role in marked(owner) if uuid == session_uuid]


def session_processes(owner: str, session_uuid: str) -> list[psutil.Process]:
    """The session's processes and their descendants (also those that
    cleared their environment)."""
    found: dict[int, psutil.Process] = {}
    for process, _ in marked_by(owner, session_uuid):
        found.setdefault(process.pid, process)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for child in process.children(recursive=True):
                found.setdefault(child.pid, child)
    return list(found.values())


async def detach(
    role: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path | str
) -> psutil.Process:
    """Start ``argv`` detached (see ``detach.py``), output to ``log``."""
    helper = await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        str(DETACH),
        str(log),
        str(cwd),
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await helper.communicate()
    if helper.returncode != 0:
        raise LaunchFailed(f"{role} did not start: {err.decode(errors='replace').strip()}")
    try:
        return psutil.Process(int(out))
    except psutil.NoSuchProcess:
        last = await asyncio.to_thread(tail, log)
        raise LaunchFailed(f"{role} exited at once:\n{last}") from None


def is_gone(process: psutil.Process) -> bool:
    """Exited, reaped or a zombie (whether init reaps it is the host's business)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if not is_gone(p)]


def signal_all(processes: Iterable[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if process.is_running():  # not a reused pid
                process.send_signal(sig)


async def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until all are gone or ``timeout`` passes; return those left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while left := await asyncio.to_thread(running, processes):
        if loop.time() >= deadline:
            return left
        await asyncio.sleep(POLL_SECONDS / 2)
    return []


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
