"""The step runner closes each descriptor it gives the event loop once, after
the loop has stopped watching it, on either loop (``orchest_service.loop``).

A descriptor closed twice is a stolen one: between the two closes another
thread of the process (zmq's I/O thread reconnecting to a kernel that died,
a worker thread reading ``/proc``) may have been given the same number, and
the second close ends that thread's descriptor. The thread then closes "its"
number, by then perhaps one the loop watches: libuv ``abort()``s the process
when ``epoll_ctl`` refuses such a descriptor. uvloop's read-pipe transport,
made from a file object, did that: libuv closed the pipe and then uvloop
closed the file object, the same number again (``docs/reliability.md``,
"The services on uvloop").

Here threads open and check descriptors of their own while the runner's
parts open and close theirs, many times; no thread may find its descriptor
closed under it. Real pipes, real threads, both real loops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest

from orchest_service.loop import EventLoopName, run
from orchest_step_runner.executor.kernel import KernelOutput
from orchest_step_runner.executor.streaming import GuardedSink

ROUNDS = 3000
"""Closes per case: uvloop's double close stole a thread's descriptor about
once in a thousand here (two threads, two loaded cores)."""
THREADS = 3


class Thieves:
    """Threads opening ``/dev/null`` and checking it is still theirs before
    closing it; ``stolen`` counts the descriptors closed under them (not
    closed again: the number may be another's by then)."""

    def __init__(self) -> None:
        self.stolen = 0
        self._stop = threading.Event()
        self._null = os.stat(os.devnull)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._churn) for _ in range(THREADS)]

    def _ours(self, fd: int) -> bool:
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (self._null.st_dev, self._null.st_ino)

    def _churn(self) -> None:
        while not self._stop.is_set():
            fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            for _ in range(50):  # a little work with it
                pass
            if self._ours(fd):
                os.close(fd)
            else:
                with self._lock:
                    self.stolen += 1

    def __enter__(self) -> Thieves:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@pytest.fixture(params=["uvloop", "asyncio"])
def loop_name(request: pytest.FixtureRequest) -> Iterator[EventLoopName]:
    yield request.param


def rounds_beside_thieves(loop_name: EventLoopName, one: Callable[[], Awaitable[None]]) -> int:
    """Run ``one`` ``ROUNDS`` times on a new loop of that name while the
    thieves run; how many descriptors they had closed under them."""

    async def main() -> None:
        for _ in range(ROUNDS):
            await one()

    with Thieves() as thieves:
        run(main(), loop_name)
    return thieves.stolen


def test_a_kernels_own_output_pipe_is_closed_once(loop_name: EventLoopName) -> None:
    # A kernel's stdout and stderr, forwarded until the kernel is gone, then
    # closed (``LocalKernel.shut_down``), as for a kernel that dies at start.
    seen: list[str] = []

    async def sink(text: str) -> None:
        seen.append(text)

    async def one() -> None:
        read_fd, write_fd = os.pipe()
        output = KernelOutput(read_fd, GuardedSink(sink))
        os.write(write_fd, b"no kernel here\n")
        os.close(write_fd)
        await output.finish(5.0)

    stolen = rounds_beside_thieves(loop_name, one)
    assert stolen == 0, f"{stolen} descriptors of other threads closed"
    assert "".join(seen) == "no kernel here\n" * ROUNDS
