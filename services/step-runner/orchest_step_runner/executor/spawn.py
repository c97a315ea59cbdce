"""A script step's leader, started and followed without asyncio's subprocess
machinery.

``loop.subprocess_exec`` wraps ``Popen`` in a transport and a protocol, a
task that connects a transport to each pipe, and a child watcher, and calls
back through them at the exit: 0.45-0.52 ms of the runner's CPU for the
spawn, exit and output of a trivial process here, against 0.31-0.33 ms
this way, of which ``Popen`` itself takes 0.24 (``docs/performance.md``).
Here the leader is started by ``Popen`` as before (``vfork``: the working
directory, the environment, a session of its own, stdin ``/dev/null``,
stdout and stderr one pipe), and the loop watches two descriptors directly:
the pipe's read end (non-blocking, read when the reader asks; watched only
while it waits, so a slow reader holds the step's writes as a full pipe
does) and a pid file descriptor, readable once the leader has exited, when
the leader is reaped (``Popen.poll``). Where there are no pidfds (not Linux
5.3+), a thread waits for the exit instead.

A leader that has not exited when its ``Leader`` is closed (the caller was
cancelled and killed it) stays watched until it exits and is reaped then:
it never lingers as a zombie.

In a step's view (``isolation.py``), ``within`` names the view holder's
mount namespace and the view's root in it: the calling thread enters them
(``setns``, ``chroot``) just for the ``Popen``, so the leader is ``vfork``ed
already inside the view and ``exec``s the step's own program at once, then
the thread goes back (``entering.py``). Nothing else changes: the leader is
the runner's child as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .entering import Within, entered


class OutputPipe:
    """The read end of a leader's output pipe, read on the loop."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None

    async def read(self, size: int) -> bytes:
        """What has arrived, at most ``size`` bytes, once there is some;
        ``b""`` at the end (every writer gone) or once closed."""
        while self._fd >= 0:
            try:
                return os.read(self._fd, size)
            except BlockingIOError:
                pass
            waiter = self._loop.create_future()
            self._loop.add_reader(self._fd, _wake, waiter)
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # else close() has unregistered it
                    self._waiter = None
                    self._loop.remove_reader(self._fd)
        return b""

    def close(self) -> None:
        """Stop watching and close the pipe (a reader waiting gets ``b""``)."""
        if self._fd < 0:
            return
        if self._waiter is not None:
            self._loop.remove_reader(self._fd)
            _wake(self._waiter)
            self._waiter = None
        os.close(self._fd)
        self._fd = -1


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Leader:
    """A started leader: its output, its exit and its exit code."""

    def __init__(self, popen: subprocess.Popen[bytes], output: OutputPipe) -> None:
        self._popen = popen
        self._loop = asyncio.get_running_loop()
        self.output = output
        self.exited: asyncio.Future[None] = self._loop.create_future()
        """Done once the leader has exited and been reaped."""
        self._pidfd = -1
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits
            waited = self._loop.run_in_executor(None, popen.wait)
            waited.add_done_callback(lambda _: _wake(self.exited))
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that ended it); ``None``
        while it runs."""
        return self._popen.returncode

    def _reap(self) -> None:
        if self._popen.poll() is None:  # readable means exited: not yet reaped
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        _wake(self.exited)

    def close(self) -> None:
        """Close the output pipe; a leader still running stays watched until
        its exit, and is reaped then."""
        self.output.close()


def start(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], within: Within | None = None
) -> Leader:
    """Start ``command`` as the leader of a session of its own, stdin
    ``/dev/null``, stdout and stderr into one pipe; ``within``: in that view
    (``cwd`` a path there). Raises as ``Popen`` does (``FileNotFoundError``:
    no such program, or no ``cwd``), and ``OSError`` when the view cannot be
    entered."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        with entered(within):
            popen = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL if within is None else _null(),
                stdout=write_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        return Leader(popen, OutputPipe(read_fd, asyncio.get_running_loop()))
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(read_fd)
        raise


_NULL = -1


def _null() -> int:
    """``/dev/null`` for a step started in a view, opened once outside any
    (read-only; not inherited but by ``Popen``'s ``dup2``)."""
    global _NULL
    if _NULL < 0:
        _NULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return _NULL
