"""The services' event loop: uvloop, or CPython's own with
``ORCHEST_EVENT_LOOP=asyncio`` (the step runner's default, ``RunnerSettings``).

uvloop runs the loop on libuv (its callbacks, timers, sockets and pipes in
C): the same asyncio API, less CPU a wake-up (``docs/performance.md``). It
is set as the loop of the one ``asyncio.Runner`` a service's process runs
(``entry.run_main``), not as the process's event loop policy: a thread that
makes its own loop gets CPython's. Under it, child processes started
through the loop (``asyncio.create_subprocess_exec``) are followed by libuv,
which reaps only the pids it started; ``asyncio``'s child watchers are not
used. libuv ``abort()``s the process when ``epoll_ctl`` refuses a descriptor
it watches: one is unregistered (``remove_reader``) before it is closed, and
closed once; uvloop's ``connect_read_pipe`` on a file object closes the
descriptor twice and is not used (``docs/reliability.md``, "The services on
uvloop").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

import uvloop

EventLoopName = Literal["uvloop", "asyncio"]
"""The values of ``ORCHEST_EVENT_LOOP``."""

DEFAULT_EVENT_LOOP: EventLoopName = "uvloop"

METADATA_EVENT_LOOP = "event_loop"
"""The micro metadata key (``/api/health``'s instance metadata) naming the
loop an instance runs on."""

T = TypeVar("T")


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the loop named; ``None``: asyncio's default."""
    return uvloop.new_event_loop if name == "uvloop" else None


def run(main: Coroutine[Any, Any, T], name: EventLoopName) -> T:
    """``asyncio.run(main)`` on the loop named."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)


def running_loop_name() -> EventLoopName:
    """The loop this coroutine runs on."""
    return "uvloop" if isinstance(asyncio.get_running_loop(), uvloop.Loop) else "asyncio"
