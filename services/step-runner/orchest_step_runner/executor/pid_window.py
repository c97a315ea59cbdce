"""Which processes can be an attempt's: the pids handed out since it began.

Finding what an attempt left behind (``tree.marked_processes``) reads the
environment of candidate processes. Reading every process of the host costs
2-50 ms on a busy one; but every process of an attempt was created after its
first one (the leader), and the kernel hands out pids in a cycle: each new
process takes the next free pid after the last one given (``ns_last_pid``),
wrapping to ``RESERVED_PIDS`` after ``pid_max``. So unless the cycle went all
the way round during the attempt, its processes hold pids in the cyclic
interval (leader, last pid given], and only those are read.

Whether the cycle could have gone round is bounded from two counters read
before the leader starts and again at the scan: the processes (and threads)
created since boot (``/proc/stat``: every pid given in any namespace counts)
and the tasks alive (``/proc/loadavg``). The cursor moves one pid for each
pid given, and one for each pid it skips because it is in use, and no more
pids are in use at any time than the tasks alive at the start plus those
created since; so it moved at most ``2 x created + alive``. When that could
reach a whole cycle, or ``/proc`` lacks a counter, or it belongs to another
pid namespace than this process, the window is unknown (``None``) and every
process is read, as before.

The counters "before" may be read at any moment before the leader starts:
counted from earlier, the bound holds (the tasks alive then plus those
created since bound the pids in use from then on), only looser. The process
executor reads them once an attempt's report is sent, for the next leader,
off the path between the answer and the start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RESERVED_PIDS = 300
"""Where the kernel's pid cycle starts again (``RESERVED_PIDS`` in ``kernel/pid.c``)."""

PROC = Path("/proc")
_STAT = "/proc/stat"
_LOADAVG = "/proc/loadavg"
_LAST_PID = "/proc/sys/kernel/ns_last_pid"
_PID_MAX = "/proc/sys/kernel/pid_max"
"""Strings, not ``PROC / ...``: a path joined costs about as much as the
read (7 us against 8-15 us here), and each step reads six."""

READ_BYTES = 1 << 16
"""A read of ``read_proc`` (``/proc/stat`` is about 1 KiB here; it grows with
CPUs and interrupts)."""

PROBE_SPAN = 64
"""A window of at most this many pids is looked up pid by pid (``new_pids``)."""


@dataclass(frozen=True)
class Counters:
    created: int
    """Processes and threads created since boot (``processes`` of ``/proc/stat``)."""
    alive: int
    """Tasks alive (the total of ``/proc/loadavg``'s fourth field)."""


@dataclass(frozen=True)
class PidWindow:
    """The counters before an attempt's leader started, and its pid."""

    before: Counters
    leader: int


def cursor_travel(before: Counters, now: Counters) -> int:
    """The most pids the kernel's cursor can have moved past between the two reads."""
    created = max(now.created - before.created, 0)
    return 2 * created + before.alive


def in_window(pid: int, leader: int, last: int) -> bool:
    """Whether ``pid`` lies in the cyclic interval (``leader``, ``last``]."""
    if last >= leader:
        return leader < pid <= last
    return pid > leader or pid <= last  # the cycle wrapped once


def candidates(
    window: PidWindow, now: Counters, last: int, pid_max: int, pids: Iterable[int]
) -> list[int] | None:
    """The ``pids`` given since ``window``'s leader started; ``None`` when the
    cycle may have come round (any pid could be new)."""
    if cursor_travel(window.before, now) >= pid_max - RESERVED_PIDS:
        return None
    return [pid for pid in pids if in_window(pid, window.leader, last)]


def read_counters() -> Counters | None:
    """The counters now (blocking: reads ``/proc``); ``None``: not available."""
    created = read_created()
    try:
        alive = int(read_proc(_LOADAVG).split()[3].partition(b"/")[2])
    except (OSError, ValueError, IndexError):
        return None
    return None if created is None else Counters(created, alive)


def read_created() -> int | None:
    """The processes and threads created since boot (``/proc/stat``); ``None``:
    not available. At the scan only this one is read: the tasks alive count
    as they were before the leader (``cursor_travel``)."""
    try:
        stat = read_proc(_STAT)
        start = stat.index(b"\nprocesses ") + len(b"\nprocesses ")
        return int(stat[start : stat.index(b"\n", start)])
    except (OSError, ValueError):
        return None


def read_proc(path: str | Path) -> bytes:
    """A ``/proc`` file at once, without a file object (and its text layer),
    which costs more than the read itself: a step's end reads several."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, READ_BYTES)]
        while chunks[-1]:
            chunks.append(os.read(fd, READ_BYTES))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _same_namespace() -> bool:
    """Whether ``/proc`` lists this process's pid namespace (``ns_last_pid`` is
    always the reader's). Looked at once per process (a process never changes
    pid namespace; a fork looks again)."""
    pid = os.getpid()
    known = _SAME_NAMESPACE.get(pid)
    if known is None:
        try:
            known = os.readlink(PROC / "self") == str(pid)
        except OSError:
            known = False
        _SAME_NAMESPACE[pid] = known
    return known


_SAME_NAMESPACE: dict[int, bool] = {}


def new_pids(window: PidWindow | None) -> list[int] | None:
    """The pids of the live processes created since ``window``'s leader
    started (blocking: reads ``/proc``); ``None``: unknown, read them all.

    A window of at most ``PROBE_SPAN`` pids (the usual one: a step's own few
    processes and what the host started meanwhile) is looked up pid by pid
    instead of listing ``/proc``, whose cost grows with every process of the
    host. A pid looked up that way may be a thread's id (``/proc`` answers
    for threads it does not list): its environment is its process's, so it
    is marked only if that process is the attempt's, which is killed anyway."""
    if window is None or not _same_namespace():
        return None
    created = read_created()
    try:
        last = int(read_proc(_LAST_PID))
        pid_max = int(read_proc(_PID_MAX))
        if window.leader <= last <= window.leader + PROBE_SPAN:
            listed = [pid for pid in range(window.leader + 1, last + 1) if _exists(pid)]
        else:
            listed = [int(name) for name in os.listdir(PROC) if name.isdigit()]
    except (OSError, ValueError):
        return None
    if created is None:
        return None
    return candidates(window, Counters(created, window.before.alive), last, pid_max, listed)


def _exists(pid: int) -> bool:
    try:
        os.stat(f"/proc/{pid}")
    except FileNotFoundError:
        return False
    return True
