"""A process step never outlives its runner.

Two parts (the processes are found as ``sweep`` says: by the runner's label
in their environment, and by their process groups):

- ``Guardian``: one small process per runner (``sweep.py``, stdlib only),
  started with the executor, that learns each script step's process group
  over a pipe and, when the pipe reaches end of file (the runner exited, or
  was killed with ``kill -9``), kills those groups and every process of the
  runner's steps: children, ``setsid`` escapees, daemons. So a step re-run
  elsewhere after its runner died (attempt n+1) never runs beside a live
  attempt n. The groups are kept in a memory file both map (``sweep.py``):
  a step's start and end each cost a store to memory, not a write to the
  pipe and a wake-up of the guardian.
- ``reap_orphans``: at the executor's start, the processes that runners of
  this host left (their runner gone, its guardian too: a host-wide kill, an
  OOM killer's choice) are killed, as the docker executor removes the
  containers of dead runners (``reaping.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import struct
import sys
from pathlib import Path

from . import sweep
from .reaping import RunnerProcess, process_runs

logger = logging.getLogger(__name__)

SWEEP_SCRIPT = Path(sweep.__file__)
STOP_SECONDS = 5.0
"""How long closing waits for the guardian's last sweep."""


class Guardian:
    """The runner's end of its guardian process."""

    def __init__(self, me: RunnerProcess) -> None:
        self.me = me
        self._process: asyncio.subprocess.Process | None = None
        self._groups: set[int] = set()
        """The groups told over the pipe (no slot for them)."""
        self._memory: tuple[int, mmap.mmap] | None = None
        """The memory file holding the groups' slots, and its map."""
        self._slots: dict[int, int] = {}
        """Group -> its slot."""
        self._free: list[int] = []

    @property
    def environment(self) -> dict[str, str]:
        """What every process the executor starts must carry."""
        return {sweep.RUNNER_VARIABLE: self.me.label}

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        """Start the guardian process (again, if it died: it inherits the same
        slots, and the groups told over the pipe are told again)."""
        if self._memory is None:
            self._memory = _memory_file()
            self._free = list(range(sweep.GROUP_SLOTS - 1, -1, -1)) if self._memory else []
        fds = [] if self._memory is None else [self._memory[0]]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            str(SWEEP_SCRIPT),
            self.me.label,
            *map(str, fds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            # Its own session: a signal to the runner's group (a terminal's
            # Ctrl-C) does not reach it. It ends when its stdin does.
            start_new_session=True,
            pass_fds=fds,
        )
        for pgid in self._groups:
            self._send(f"+{pgid}")
        logger.info("guardian of the runner's process steps started as pid %d", self._process.pid)

    async def ensure(self) -> None:
        """Start a new guardian if the current one has died (its exit status
        may not have reached the loop yet: ``/proc`` says so first)."""
        process = self._process
        if process is None or process.returncode is not None or sweep.is_gone(process.pid):
            if process is not None:
                logger.error("the guardian (pid %d) died: starting another", process.pid)
                if process.stdin is not None:
                    process.stdin.close()
            await self.start()

    def watch(self, pgid: int) -> None:
        """A step's process group started."""
        if self._memory is not None and self._free and pgid not in self._slots:
            slot = self._free.pop()
            _SLOT.pack_into(self._memory[1], slot * _SLOT.size, pgid)
            self._slots[pgid] = slot
            return
        self._groups.add(pgid)
        self._send(f"+{pgid}")

    def release(self, pgid: int) -> None:
        """A step's process group has ended."""
        slot = self._slots.pop(pgid, None)
        if slot is not None and self._memory is not None:
            _SLOT.pack_into(self._memory[1], slot * _SLOT.size, 0)
            self._free.append(slot)
            return
        self._groups.discard(pgid)
        self._send(f"-{pgid}")

    def _send(self, line: str) -> None:
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):  # it died: ensure() restarts it
            self._process.stdin.write(line.encode() + b"\n")

    async def close(self) -> None:
        """End the guardian: it kills what is left of the runner's steps, then exits."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            logger.error("the guardian (pid %d) did not exit: killing it", process.pid)
            process.kill()
            await process.wait()
        finally:
            if self._memory is not None:
                fd, mapped = self._memory
                self._memory = None
                mapped.close()
                os.close(fd)


_SLOT = struct.Struct("=i")
"""A slot of the memory file: a native ``int32`` (``sweep.slotted_groups``)."""


def _memory_file() -> tuple[int, mmap.mmap] | None:
    """A memory file of ``GROUP_SLOTS`` free slots, mapped; ``None`` where there
    are no memory files (not Linux 3.17+): the groups go over the pipe."""
    try:
        fd = os.memfd_create("orchest-guardian-groups", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return None
    try:
        os.ftruncate(fd, sweep.GROUP_SLOTS * _SLOT.size)
        return fd, mmap.mmap(fd, sweep.GROUP_SLOTS * _SLOT.size)
    except (OSError, ValueError):
        os.close(fd)
        return None


def _orphan_label(me: RunnerProcess, label: str) -> bool:
    """Whether ``label`` names a runner of this boot and pid namespace that is
    gone (a runner in another namespace cannot be seen from here: left alone)."""
    runner = RunnerProcess.parse(label)
    if runner is None or runner == me:
        return False
    if runner.boot_id != me.boot_id:
        return True
    return runner.pid_namespace == me.pid_namespace and not process_runs(runner)


def reap_orphans(me: RunnerProcess) -> int:
    """Kill every process of a process step whose runner is gone (blocking:
    reads ``/proc``); returns how many."""
    count = sweep.sweep(lambda label: _orphan_label(me, label))
    if count:
        logger.warning("killed %d process(es) of steps whose runner is gone", count)
    return count
