"""Ending a step's whole process tree.

A step runs as the leader of its own session, so its process group holds
everything it started, except descendants that left the group (``setsid``):
those are found through the process tree (psutil) while their ancestors
still live, so the snapshot is taken before any signal is sent.

A zombie counts as gone: it runs nothing, and whether it is reaped depends on
the init process of the host (which is not always a reaping one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterable

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


def descendants_of(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes and their current descendants, without duplicates."""
    found: dict[int, psutil.Process] = {}
    for process in processes:
        found.setdefault(process.pid, process)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for child in process.children(recursive=True):
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


async def wait_gone(processes: list[psutil.Process], timeout: float) -> bool:
    """Wait until every process is gone; False when some still run after ``timeout``.

    Polls: the exit of a process that is not our child is announced nowhere.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(is_gone(process) for process in processes):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


async def terminate_tree(pid: int, pgid: int, *, grace_seconds: float) -> None:
    """SIGTERM the tree, then SIGKILL whatever still runs after ``grace_seconds``.

    SIGTERM goes to the group and to descendants that left it; SIGKILL then goes
    to the group and to every descendant seen (the tree is looked at again, since
    processes may have started during the grace period).
    """
    tree = await asyncio.to_thread(process_tree, pid)
    signal_group(pgid, signal.SIGTERM)
    signal_processes(tree, signal.SIGTERM)
    if not await wait_gone(tree, grace_seconds):
        alive = [process for process in tree if not is_gone(process)]
        kill_tree(pgid, await asyncio.to_thread(descendants_of, alive))
        await wait_gone(tree, KILL_WAIT_SECONDS)
    # Anything of the group that started after the snapshot.
    signal_group(pgid, signal.SIGKILL)
