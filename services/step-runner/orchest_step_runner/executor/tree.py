"""Ending everything a step attempt started.

A step runs as the leader of its own session, so its process group holds
what it started, except descendants that left the group (``setsid``): those
are found through the process tree (psutil) while their ancestors still live,
so that snapshot is taken before any signal is sent. Processes whose parent
has already exited (a daemon) are found by their environment instead: every
process of an attempt inherits its ``ORCHEST_*`` ids (the attempt's marker).
A process inside an exec when looked at shows no environment
(``sweep.exec_inside``), and one may fork between a look and its signal:
the look is made again until it finds nothing of the attempt left
(``kill_attempt``).

When the attempt's ``PidWindow`` is known, only the processes created since
its leader started are read (``pid_window``), not every process of the host.

A zombie counts as gone: it runs nothing, and whether it is reaped depends on
the host's init process (which is not always a reaping one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterable, Mapping

import psutil

from .pid_window import PidWindow, new_pids, read_proc
from .sweep import EXEC_POLL_SECONDS, ExecWatch

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
KILL_WAIT_SECONDS = 1.0
"""How long ``kill_attempt`` waits for the attempt's processes to be gone."""
INLINE_CANDIDATES = 64
"""When an attempt ends, at most this many processes created since it began
are looked at on the event loop: the environment of each read from ``/proc``
(a few microseconds, no disk; ``carrying``); more, or an unknown window, in
a thread. A thread hop waits for another thread's wake-up, which on a loaded
host costs milliseconds between a step's end and its report."""
INLINE_MARKED = 8
"""Nor when more than this many of them are the attempt's (each is then
looked up through psutil, signalled and waited for)."""
INLINE_TASKS = 4096
"""Nor on the loop when the host runs more tasks than this (listing ``/proc``
grows with them)."""


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _processes(pids: Iterable[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            found.append(psutil.Process(pid))
    return found


def _created_since(since: float) -> list[psutil.Process]:
    """The processes created from ``since`` on (epoch seconds; every
    process's start time is read): when the attempt's pid window is unknown."""
    floor = since - 1.0  # create_time is coarse (clock ticks)
    return [
        process
        for process in psutil.process_iter(["create_time"])
        if (process.info["create_time"] or 0.0) >= floor
    ]


def marked_processes(
    marker: Mapping[str, str],
    since: float = 0.0,
    window: PidWindow | None = None,
    watch: ExecWatch | None = None,
) -> list[psutil.Process]:
    """Processes whose environment holds every variable of ``marker`` (not this one).

    Only processes created since the attempt began are read (``window``, else
    ``since``): the attempt's cannot be older than the attempt, and reading
    every process's environment costs milliseconds on a busy host. Those
    whose environment reads empty (inside an exec, maybe) are told to
    ``watch``.
    """
    if not marker:  # would match every process: a kernel not yet given to an attempt
        return []
    pids = new_pids(window)
    if pids is not None:
        return _marked(_processes(carrying(pids, marker, watch)), marker, watch)
    return _marked(_created_since(since), marker, watch)


def carrying(
    pids: Iterable[int], marker: Mapping[str, str], watch: ExecWatch | None = None
) -> list[int]:
    """Those of ``pids`` (not this process) whose environment holds every
    variable of ``marker``, read straight from ``/proc``: a few microseconds a
    process, where a ``psutil.Process`` and its ``environ()`` cost tens. A
    superset of what ``_marked`` keeps (it compares the last value of a
    name), which the caller checks again through psutil: that also guards
    against a pid reused in between. Those whose environment reads empty are
    told to ``watch``."""
    if not marker:  # would match every process
        return []
    wanted = [b"\0" + os.fsencode(f"{name}={value}") + b"\0" for name, value in marker.items()]
    me = os.getpid()
    found = []
    for pid in pids:
        if pid == me:
            continue
        try:
            environ = read_proc(f"/proc/{pid}/environ")
        except OSError:  # gone, or not ours to read
            continue
        if not environ:
            if watch is not None:
                watch.empty_read(pid)
        elif all(entry in b"\0" + environ for entry in wanted):
            found.append(pid)
    return found


def _marked(
    candidates: Iterable[psutil.Process],
    marker: Mapping[str, str],
    watch: ExecWatch | None = None,
) -> list[psutil.Process]:
    if not marker:  # would match every process: a kernel not yet given to an attempt
        return []
    found = []
    for process in candidates:
        if process.pid == os.getpid():
            continue
        try:
            environ = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if not environ:
            if watch is not None:
                watch.empty_read(process.pid)
        elif all(environ.get(name) == value for name, value in marker.items()):
            found.append(process)
    return found


def attempt_processes(
    roots: Iterable[psutil.Process],
    marker: Mapping[str, str],
    since: float = 0.0,
    window: PidWindow | None = None,
    watch: ExecWatch | None = None,
) -> list[psutil.Process]:
    """The roots, their current descendants and every marked process, once
    each (those whose environment reads empty are told to ``watch``)."""
    found = {process.pid: process for process in marked_processes(marker, since, window, watch)}
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
    if not processes:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(all_gone, processes):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True


def _find_and_signal(
    pgid: int | None,
    roots: Iterable[psutil.Process],
    marker: Mapping[str, str],
    since: float,
    signum: signal.Signals,
    window: PidWindow | None = None,
    watch: ExecWatch | None = None,
) -> list[psutil.Process]:
    """Signal the group (if any) and every process of the attempt; returns
    those processes (those whose environment reads empty are told to ``watch``)."""
    processes = attempt_processes(roots, marker, since, window, watch)
    if pgid is not None:
        signal_group(pgid, signum)
    signal_processes(processes, signum)
    return processes


async def _find_and_kill(
    pgid: int | None,
    roots: list[psutil.Process],
    marker: Mapping[str, str],
    since: float,
    window: PidWindow | None,
    watch: ExecWatch,
) -> list[psutil.Process]:
    """One look: SIGKILL the group and what is found of the attempt; returns it."""
    if not roots and window is not None and window.before.alive <= INLINE_TASKS:
        pids = new_pids(window)  # on the loop: see INLINE_CANDIDATES
        if pids is not None and len(pids) <= INLINE_CANDIDATES:
            found = carrying(pids, marker, watch)
            if len(found) <= INLINE_MARKED:
                marked = _marked(_processes(found), marker, watch)
                if pgid is not None:
                    signal_group(pgid, signal.SIGKILL)
                signal_processes(marked, signal.SIGKILL)
                return marked
            watch.next_look()  # looked at again in the thread
    # In a thread: the scan reads /proc (every process of the host without a
    # window: 2-50 ms on a busy one) and each signal reads the process's start
    # time first.
    return await asyncio.to_thread(
        _find_and_signal, pgid, roots, marker, since, signal.SIGKILL, window, watch
    )


async def kill_attempt(
    pgid: int,
    marker: Mapping[str, str],
    roots: Iterable[psutil.Process] = (),
    since: float = 0.0,
    window: PidWindow | None = None,
) -> None:
    """SIGKILL the group, the roots' trees and the marked processes now, and wait
    (briefly) until they are gone.

    Then look again while a look may have missed something. A process found
    beyond the roots' trees (a daemon, or one that left the group) may have
    forked between the look and its signal: the next look is at every
    candidate again. A process whose environment read empty inside an exec
    is looked at again by itself (``sweep.ExecWatch``): on a busy host some
    process is always inside an exec, so looking at all of them again would
    not end. A look that finds only the roots' trees, or nothing, and
    nothing to look at again (the usual end of a step, or of a kernel) is
    the only one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_WAIT_SECONDS
    group: int | None = pgid
    roots = list(roots)
    known = {process.pid for process in roots}
    watch = ExecWatch()
    among: list[int] | None = None  # None: every candidate
    while True:
        watch.next_look()
        if among is None:
            found = await _find_and_kill(group, roots, marker, since, window, watch)
        else:  # a few processes, each read from /proc: on the loop
            found = _marked(_processes(carrying(among, marker, watch)), marker, watch)
            signal_processes(found, signal.SIGKILL)
        # The group is signalled once: a signal to a group reaches a child
        # forked meanwhile too; a pid left alone may be given to another.
        group, roots = None, []
        gone = await wait_gone(found, max(deadline - loop.time(), 0.0))
        beyond = any(process.pid not in known for process in found)
        if gone and not beyond and not watch.pending:
            return
        if loop.time() >= deadline:
            logger.warning(
                "processes of an attempt still ran %.1fs after SIGKILL: %s",
                KILL_WAIT_SECONDS,
                sorted({process.pid for process in found} | set(watch.pending)),
            )
            return
        known.update(process.pid for process in found)
        if beyond or not gone:
            among = None
        else:
            among = watch.pending
            await asyncio.sleep(EXEC_POLL_SECONDS)


async def terminate_attempt(
    pid: int,
    pgid: int,
    marker: Mapping[str, str],
    *,
    grace_seconds: float,
    since: float = 0.0,
    window: PidWindow | None = None,
) -> None:
    """SIGTERM everything of the attempt, then SIGKILL what still runs after
    ``grace_seconds`` (looking again: processes may start during the grace)."""

    def find_and_terminate() -> list[psutil.Process]:
        # The tree first: its snapshot finds escapees while their ancestors live.
        return _find_and_signal(pgid, process_tree(pid), marker, since, signal.SIGTERM, window)

    processes = await asyncio.to_thread(find_and_terminate)
    await wait_gone(processes, grace_seconds)
    survivors = await asyncio.to_thread(
        lambda: [process for process in processes if not is_gone(process)]
    )
    await kill_attempt(pgid, marker, survivors, since, window)
