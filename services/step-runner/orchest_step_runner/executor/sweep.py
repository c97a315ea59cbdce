"""Finding and ending a step runner's processes, and the guardian's program.

Every process a runner's process executor starts (a script step's leader,
a notebook's kernel) gets ``ORCHEST_RUNNER_PROCESS`` in its environment: the
runner's process label (``reaping.RunnerProcess``: boot id, pid namespace,
pid and start time, which no other process shares). Its descendants inherit
it, whatever group or session they move to (``setsid``), and so do daemons
whose parent has exited. ``labelled`` finds them by reading ``/proc``.

``python -I -S sweep.py LABEL [GROUPS_FD]`` is the guardian: one per
runner, started by it (``guardian.Guardian``) with a pipe on its stdin. The
runner keeps the process groups of its running steps in a memory file
(``memfd_create``, no path) whose descriptor the guardian inherits as
``GROUPS_FD``: ``GROUP_SLOTS`` native ``int32`` slots (0: free) that the
runner has mapped into its memory. A step's group is put in a slot as it
starts and taken out as it ends, by a store to that shared memory: no
system call, no wake-up of the guardian. Groups that found no slot (or with
no memory file) come over the pipe as ``+PGID`` and ``-PGID`` lines. When
the pipe reaches end of file, the runner has exited (a ``kill -9``
included: the kernel closes a dead process's pipes, while the memory file
lives on with the guardian's descriptor, holding what the runner's stores
wrote), and the guardian reads the slots, then kills the groups and every
process carrying ``LABEL``, again until none is left, then exits. Run as a
script (stdlib only) so that it starts in milliseconds and holds little
memory.
"""

from __future__ import annotations

import array
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable

RUNNER_VARIABLE = "ORCHEST_RUNNER_PROCESS"
"""In the environment of everything a runner's process executor starts: the
runner's process label."""
SWEEP_ROUNDS = 20
"""At most this many kill-and-look rounds (a process may fork while the
previous round's signals land)."""
ROUND_WAIT_SECONDS = 0.5
"""How long one round waits for its victims to be gone before looking again."""
POLL_SECONDS = 0.005


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot); ``None``: no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    # The command (in parentheses, holding anything) is field 2; field 22 is starttime.
    return int(stat.rpartition(b")")[2].split()[19])


def is_gone(pid: int) -> bool:
    """No such process, or a zombie (it runs nothing; whoever reaps it is its parent's business)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return True
    return stat.rpartition(b")")[2].split()[0] == b"Z"


PF_KTHREAD = 0x00200000
"""A kernel thread's flag (``/proc/<pid>/stat`` field 9)."""


EXEC_POLL_SECONDS = 0.002
"""How soon a process whose environment read empty is looked at again (an
exec takes about a millisecond)."""
INSIDE_LOOKS = 500
"""Looks at most at a process inside an exec (about a second of looks)."""
EXEC_WAIT_SECONDS = 1.0
"""How long a sweep goes on looking again at processes inside an exec when
it finds nothing else (a look at every process takes milliseconds)."""
EQUAL_LOOKS = 10
"""Looks at most at a process whose environment's bounds are set and equal:
inside an exec's last step (which takes microseconds once the process runs
again), or with an environment really empty (``env -i``), which never
shows one."""


def exec_inside(pid: int) -> bool | None:
    """Whether an empty read of the process's environment may have been taken
    inside an exec, so that the process must be looked at again.

    An exec gives the process new memory, then sets its environment's bounds
    there (``/proc/<pid>/stat`` fields 50 and 51): both 0 at first, then
    equal while it fills the table of the environment's strings, then apart.
    Until they are apart ``/proc/<pid>/environ`` reads empty, and the marker
    or label in it cannot be seen. That lasts microseconds, or milliseconds
    on a loaded host. ``True``: bounds 0, or apart (the exec ended after the
    read); ``False``: equal (the exec's last step, or an environment really
    empty); ``None``: not an exec (gone, a zombie, a kernel thread, unknown).
    A process exiting looks inside an exec until it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
        flags, start, end = int(fields[6]), int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return None
    if fields[0] in (b"Z", b"X") or flags & PF_KTHREAD:
        return None
    return end == 0 or end != start


class ExecWatch:
    """The processes whose environment read empty while an exec may explain
    it, over a series of looks: each is looked at again (``pending``), a
    bounded number of times (``INSIDE_LOOKS``, ``EQUAL_LOOKS``)."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        """The processes the current look must be followed by another for."""
        self._looks: dict[int, int] = {}

    def next_look(self) -> None:
        self.pending = []

    def empty_read(self, pid: int) -> None:
        """``pid``'s environment read empty in this look."""
        inside = exec_inside(pid)
        if inside is None:
            return
        looks = self._looks[pid] = self._looks.get(pid, 0) + 1
        if looks <= (INSIDE_LOOKS if inside else EQUAL_LOOKS):
            self.pending.append(pid)


def read_environ(pid: int) -> bytes | None:
    """The process's environment as it was at its exec; ``None``: gone or not ours to read."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            return file.read()
    except OSError:
        return None


def environment_value(environ: bytes, name: str) -> str | None:
    """The value of ``name`` in an environment read by ``read_environ``."""
    prefix = name.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def labelled(
    accept: Callable[[str], bool],
    *,
    since_ticks: int = 0,
    exclude: Iterable[int] = (),
    watch: ExecWatch | None = None,
    among: Iterable[int] | None = None,
) -> list[int]:
    """Pids of live processes started from ``since_ticks`` on whose
    ``RUNNER_VARIABLE`` is a label ``accept`` takes (never this process),
    among every process or those of ``among``. Those whose environment reads
    empty are told to ``watch``."""
    skip = {os.getpid(), *exclude}
    found = []
    if among is None:
        among = (int(entry) for entry in os.listdir("/proc") if entry.isdigit())
    for pid in among:
        if pid in skip:
            continue
        ticks = start_ticks(pid)
        if ticks is None or ticks < since_ticks:
            continue
        environ = read_environ(pid)
        if environ is None:
            continue
        if not environ:
            if watch is not None:
                watch.empty_read(pid)
            continue
        label = environment_value(environ, RUNNER_VARIABLE)
        if label is not None and accept(label) and not is_gone(pid):
            found.append(pid)
    return found


def kill(pids: Iterable[int], groups: Iterable[int] = ()) -> None:
    """SIGKILL the process groups and the processes (gone ones are skipped)."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait (blocking) until every process is gone; False if some still run."""
    waiting = list(pids)
    deadline = time.monotonic() + timeout
    while waiting := [pid for pid in waiting if not is_gone(pid)]:
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def sweep(accept: Callable[[str], bool], groups: Iterable[int] = (), since_ticks: int = 0) -> int:
    """Kill ``groups`` and every process whose label ``accept`` takes, again
    until a look at every process finds none left. A process whose
    environment read empty inside an exec is looked at again by itself until
    it shows one (its label, if any, shows once the exec is done); one that
    then carries the label makes the next look a look at every process
    again. Returns how many processes were found."""
    groups = list(groups)
    killed: set[int] = set()
    watch = ExecWatch()
    rounds = 0
    among: list[int] | None = None  # None: every process
    exec_deadline = time.monotonic() + EXEC_WAIT_SECONDS
    while rounds < SWEEP_ROUNDS:
        watch.next_look()
        found = labelled(accept, since_ticks=since_ticks, watch=watch, among=among)
        kill(found, groups)
        killed.update(found)
        if found:
            rounds += 1
            wait_gone(found, ROUND_WAIT_SECONDS)
            among = None
        elif watch.pending and time.monotonic() < exec_deadline:
            time.sleep(EXEC_POLL_SECONDS)
            among = watch.pending
        else:
            break
    return len(killed)


def _label_ticks(label: str) -> int:
    """The runner's start (the label's last field): its steps cannot be older."""
    with contextlib.suppress(ValueError):
        return int(label.rsplit("/", 1)[-1])
    return 0


def guard(label: str, commands: Iterable[bytes], groups_file: int | None = None) -> int:
    """Follow ``+PGID``/``-PGID`` lines until they end, then sweep those groups
    and the ones in the slots of the memory file ``groups_file``."""
    groups: set[int] = set()
    for line in commands:
        text = line.strip()
        with contextlib.suppress(ValueError):
            if text.startswith(b"+"):
                groups.add(int(text[1:]))
            elif text.startswith(b"-"):
                groups.discard(int(text[1:]))
    if groups_file is not None:
        groups.update(slotted_groups(groups_file))
    return sweep(label.__eq__, groups, since_ticks=_label_ticks(label))


GROUP_SLOTS = 1024
"""Slots of a groups file: steps running at once on a runner, at most."""


def slotted_groups(fd: int) -> list[int]:
    """The groups in the slots of the memory file ``fd``."""
    try:
        data = os.pread(fd, GROUP_SLOTS * 4, 0)
    except OSError:
        return []
    slots = array.array("i")
    slots.frombytes(data[: len(data) - len(data) % 4])
    return [pgid for pgid in slots if pgid > 0]


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: sweep.py RUNNER_LABEL [GROUPS_FD]", file=sys.stderr)
        return 2
    # A terminal's Ctrl-C or the runner's own stop signal must not end the
    # guardian before the runner: only the end of its pipe does.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    groups_file = int(argv[1]) if len(argv) == 2 else None
    count = guard(argv[0], iter(sys.stdin.buffer.readline, b""), groups_file)
    if count:
        print(f"guardian: runner {argv[0]} ended; killed {count} of its processes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
