"""Ending everything a step attempt started.

A step runs as the leader of its own session, so its process group holds
what it started, except descendants that left the group (``setsid``): those
are found through the process tree (psutil) while their ancestors still live,
so that snapshot is taken before any signal is sent. Processes whose parent
has already exited (a daemon) are found by their environment instead: every
process of an attempt inherits its ``ORCHEST_*`` ids (the attempt's marker).

A zombie counts as gone: it runs nothing, and whether it is reaped depends on
the host's init process (which is not always a reaping one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable, Mapping

import psutil

POLL_SECONDS = 0.02
KILL_WAIT_SECONDS = 1.0


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def marked_processes(marker: Mapping[str, str], since: float = 0.0) -> list[psutil.Process]:
    """Processes whose environment holds every variable of ``marker`` (not this one).

    Only processes created from ``since`` on (epoch seconds) are read: the
    attempt's cannot be older than the attempt, and reading every process's
    environment costs milliseconds on a busy host.
    """
    if not marker:  # would match every process: a kernel not yet given to an attempt
        return []
    found = []
    floor = since - 1.0  # create_time is coarse (clock ticks)
    for process in psutil.process_iter(["create_time"]):
        if process.pid == os.getpid() or (process.info["create_time"] or 0.0) < floor:
            continue
        try:
            environ = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if all(environ.get(name) == value for name, value in marker.items()):
            found.append(process)
    return found


def attempt_processes(
    roots: Iterable[psutil.Process], marker: Mapping[str, str], since: float = 0.0
) -> list[psutil.Process]:
    """The roots, their current descendants and every marked process, once each."""
    found = {process.pid: process for process in marked_processes(marker, since)}
    for root in roots:
        found.setdefault(root.pid, root)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for child in root.children(recursive=True):
                found.setdefault(child.pid, child)
    return list(found.values())


def is_gone(process: psutil.Process) -> bool:
    """True when the process no longer runs (exited, reaped or a zombie).

    Never reaps: the owner of a child keeps its exit status.
    """
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def signal_group(pgid: int, signum: signal.Signals) -> None:
    """Signal a whole process group; nothing happens when it is empty."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def signal_processes(processes: Iterable[psutil.Process], signum: signal.Signals) -> None:
    """Signal each process still running (psutil guards against reused pids)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process.send_signal(signum)


def kill_tree(pgid: int, processes: Iterable[psutil.Process]) -> None:
    """SIGKILL the group and the given processes, at once."""
    signal_group(pgid, signal.SIGKILL)
    signal_processes(processes, signal.SIGKILL)


def all_gone(processes: Iterable[psutil.Process]) -> bool:
    return all(is_gone(process) for process in processes)


async def wait_gone(processes: list[psutil.Process], timeout: float) -> bool:
    """Wait until every process is gone; False when some still run after ``timeout``.

    Polls (in a thread: a look reads ``/proc`` for each process): the exit of
    a process that is not our child is announced nowhere.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(all_gone, processes):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


def _find_and_signal(
    pgid: int,
    roots: Iterable[psutil.Process],
    marker: Mapping[str, str],
    since: float,
    signum: signal.Signals,
) -> list[psutil.Process]:
    """Signal the group and every process of the attempt; returns those processes."""
    processes = attempt_processes(roots, marker, since)
    signal_group(pgid, signum)
    signal_processes(processes, signum)
    return processes


async def kill_attempt(
    pgid: int,
    marker: Mapping[str, str],
    roots: Iterable[psutil.Process] = (),
    since: float = 0.0,
) -> None:
    """SIGKILL the group, the roots' trees and the marked processes now, and wait
    (briefly) until they are gone."""
    # In a thread: the scan reads /proc for every process of the host (2-50 ms
    # on a busy one) and each signal reads the process's start time first.
    processes = await asyncio.to_thread(
        _find_and_signal, pgid, list(roots), marker, since, signal.SIGKILL
    )
    await wait_gone(processes, KILL_WAIT_SECONDS)


async def terminate_attempt(
    pid: int, pgid: int, marker: Mapping[str, str], *, grace_seconds: float, since: float = 0.0
) -> None:
    """SIGTERM everything of the attempt, then SIGKILL what still runs after
    ``grace_seconds`` (looking again: processes may start during the grace)."""

    def find_and_terminate() -> list[psutil.Process]:
        # The tree first: its snapshot finds escapees while their ancestors live.
        return _find_and_signal(pgid, process_tree(pid), marker, since, signal.SIGTERM)

    processes = await asyncio.to_thread(find_and_terminate)
    await wait_gone(processes, grace_seconds)
    survivors = await asyncio.to_thread(
        lambda: [process for process in processes if not is_gone(process)]
    )
    await kill_attempt(pgid, marker, survivors, since)
