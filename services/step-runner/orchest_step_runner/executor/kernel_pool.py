"""Warm kernels for notebook steps: a pool of started, ready kernels per
(kernel name, environment), so that a notebook step's kernel start is off
its critical path (``docs/runs.md``, "Warm kernels").

A kernel is never reused: a step takes a fresh one (``KernelPool.take``) and
the pool starts another behind it (``PARALLEL_STARTS`` at a time). A kernel is started
with the environment its step would start it with, less the attempt's own
``ORCHEST_*`` variables, which are not known yet (the pool key holds that
environment: steps whose environments differ otherwise do not share
kernels). Before the first cell the step's variables, its working directory
and ``sys.path[0]`` (the directory the kernel started in) are set in the
kernel (``WarmKernel.preamble``), so the notebook sees what a kernel started
for it would see.

With mount-namespace isolation a kernel cannot change its mount namespace
once it runs (a multi-threaded process cannot ``setns``), so it is started
inside the view holder's namespace, chrooted into a root of its own whose
``/project-dir``, ``/data`` and ``/pipeline.json`` are empty mount points
(``Isolation.prepare_slot``); the holder binds the step's on them when the
step takes the kernel (``Isolation.fill``), and the kernel, in the same
namespace, sees them at once.

Every pooled kernel carries the runner's label (its environment is the
step's, which has it), so the guardian and the reaping at start end it with
its runner, whatever kills the runner (``guardian.py``). ``close`` kills the
pooled kernels at once (SIGKILL: a stop is never delayed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
from jupyter_client.client import KernelClient
from jupyter_client.manager import AsyncKernelManager

from ..scratch import runner_directory
from .base import OutputSink
from .isolation import VIEW_FOLDER, Isolation, KernelSlot, release_slot
from .kernel import LocalKernel
from .streaming import GuardedSink
from .sweep import RUNNER_VARIABLE

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
"""How long a pooled kernel may take to answer its first ``kernel_info``."""
PARALLEL_STARTS = 1
"""Kernels started at once. Two at once made a chain of notebooks slower on a
2-core machine (bench figure 14: 0.72x the cold chain against 0.53x and
0.55x with one): the starts took the CPU of the steps they were for."""
MAX_FAILED_STARTS = 3
"""A key whose kernels failed to start this many times in a row is no longer filled."""
HISTORY_ARGUMENT = "--HistoryManager.hist_file=:memory:"
"""As ``notebook.run_notebook`` starts an IPython kernel (nbclient's default)."""
CONNECTION_FILE = "kernel-connection.json"


@dataclass(frozen=True)
class PoolOptions:
    size: int = 2
    """Ready kernels kept per key; 0: no pool."""
    idle_seconds: float = 600.0
    """A key no step asked for this long (nor got a kernel ready) has its kernels ended."""
    memory_bytes: int = 1024**3
    """No kernel is started while the pooled kernels' memory (resident) is above this."""


@dataclass(frozen=True)
class PoolKey:
    """The kernelspec, the step's environment (uuid) and the variables the
    kernel starts with (the step's, less its attempt's ``ORCHEST_*``)."""

    kernel: str
    environment: str
    env: tuple[tuple[str, str], ...]


def is_attempt_variable(name: str) -> bool:
    """Set per attempt (``environment.orchest_variables``), so after the start."""
    return name.startswith("ORCHEST_") and name != RUNNER_VARIABLE


def pool_key(kernel: str, environment: str, env: Mapping[str, str]) -> PoolKey:
    common = sorted((k, v) for k, v in env.items() if not is_attempt_variable(k))
    return PoolKey(kernel, environment, tuple(common))


class _Relay:
    """The kernel's own stdout and stderr: dropped while it waits in the pool
    (start-up chatter), the step's output once a step took it."""

    def __init__(self) -> None:
        self.target: GuardedSink | None = None

    async def __call__(self, text: str) -> None:
        if self.target is not None:
            await self.target.send(text)


class WarmKernel:
    """A started, ready kernel of the pool; for its step, a ``NotebookKernel``."""

    def __init__(self, key: PoolKey, slot: KernelSlot, local: LocalKernel, started_in: str) -> None:
        self.key = key
        self.slot = slot
        self.local = local
        self.manager: AsyncKernelManager = local.manager
        self.started_in = started_in
        self.relay = _Relay()
        self.ready_at: float | None = None
        """When it answered (``time.monotonic``)."""
        self.client: KernelClient | None = None
        """Connected since the kernel was ready; its step's client."""
        self._ended = False

    @property
    def exit_code(self) -> int | None:
        return self.local.exit_code

    @property
    def alive(self) -> bool:
        return not self._ended and self.local.running()

    def rss(self) -> int:
        """Resident memory of the kernel process (blocking: reads ``/proc``)."""
        with contextlib.suppress(psutil.Error):
            if self.local.pid is not None:
                return int(psutil.Process(self.local.pid).memory_info().rss)
        return 0

    def adopt(self, marker: Mapping[str, str], since: float) -> None:
        """The step's: what the kernel starts from now on carries ``marker``."""
        self.local.adopt(marker, since)

    def preamble(self, env: Mapping[str, str], cwd: Path) -> str:
        """Python run (silently) before the first cell: the step's attempt
        variables, its working directory, and ``sys.path[0]`` and IPython's
        directory history as a kernel started in ``cwd`` has them."""
        variables = {k: v for k, v in env.items() if is_attempt_variable(k)}
        return (
            "import os as _orchest_os, sys as _orchest_sys\n"
            f"_orchest_os.environ.update({variables!r})\n"
            f"_orchest_os.chdir({str(cwd)!r})\n"
            f"if _orchest_sys.path[:1] == [{self.started_in!r}]:\n"
            f"    _orchest_sys.path[0] = {str(cwd)!r}\n"
            "if isinstance(globals().get('_dh'), list) and _dh:\n"
            f"    _dh[:] = [type(_dh[0])({str(cwd)!r})]\n"
            "del _orchest_os, _orchest_sys\n"
        )

    async def start(
        self, *, cwd: Path, env: dict[str, str], extra_arguments: list[str], sink: GuardedSink
    ) -> None:
        """Already started: from now on its own output is the step's."""
        self.relay.target = sink

    async def kill(self) -> None:
        await self.local.kill()

    async def shut_down(self, client: KernelClient | None) -> None:
        if not self._ended:
            self._ended = True
            await self.local.shut_down(client)

    async def discard(self) -> None:
        """End it (killed at once) and detach its root, unless a step ended
        it (its view detached the root)."""
        if not self._ended:
            await self.shut_down(self.client)
            await release_slot(self.slot)


class KernelPool:
    """The runner's warm kernels, filled by one supervised task."""

    def __init__(self, options: PoolOptions, isolation: Isolation, directory: Path) -> None:
        self.options = options
        self._isolation = isolation
        self._directory = directory
        self._ready: dict[PoolKey, collections.deque[WarmKernel]] = {}
        self._wanted: dict[PoolKey, float] = {}
        self._failures: collections.Counter[PoolKey] = collections.Counter()
        self._starting: collections.Counter[PoolKey] = collections.Counter()
        self._kernel_rss = 0
        """The largest pooled kernel's memory seen: a kernel to start is counted so."""
        self._changed = asyncio.Condition()
        """Notified when a kernel is ready or a start ended (``take`` waits on it)."""
        self._starts_ended = 0
        self._poked = asyncio.Event()
        """Set when a key is asked for or a start ended (the filler waits on it)."""
        self._numbers = itertools.count(1)
        self._filler: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, options: PoolOptions, isolation: Isolation) -> AsyncIterator[KernelPool]:
        directory = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix="kernel-pool-", dir=runner_directory())
        )
        pool = cls(options, isolation, directory)
        pool._filler = asyncio.create_task(pool._fill(), name="kernel-pool")
        try:
            yield pool
        finally:
            await pool.close()
            await asyncio.to_thread(shutil.rmtree, directory, True)

    def kernels(self) -> list[WarmKernel]:
        """The ready kernels (for health and tests)."""
        return [kernel for queue in self._ready.values() for kernel in queue]

    async def settled(self) -> None:
        """Until no kernel starts and none would (every key asked for has its
        kernels, failed to start them, or memory allows no more)."""
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: not +self._starting)
                seen = self._starts_ended
            if await self._next_key() is None:
                return
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._start_ended_since, seen))

    def _start_ended_since(self, seen: int) -> bool:
        return self._starts_ended != seen

    async def take(self, key: PoolKey) -> WarmKernel | None:
        """A ready kernel of ``key`` (waiting for the one being started for
        it, which is never slower than starting one), or ``None``: the step
        starts its own. Either way the pool is then filled for ``key``."""
        self._wanted[key] = time.monotonic()
        self._poked.set()
        async with self._changed:
            while True:
                queue = self._ready.get(key)
                while queue:
                    kernel = queue.popleft()
                    if kernel.alive and self._isolation.slot_usable(kernel.slot):
                        return kernel
                    logger.warning("a pooled %s kernel ended while waiting", key.kernel)
                    await kernel.discard()
                if not self._starting[key]:
                    return None
                await self._changed.wait()

    async def close(self) -> None:
        """Stop filling and kill every pooled kernel (at once)."""
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
            self._filler = None
        kernels = self.kernels()
        self._ready.clear()
        self._wanted.clear()
        await asyncio.gather(*(kernel.discard() for kernel in kernels), return_exceptions=True)

    # -- filling ---------------------------------------------------------------------

    async def _fill(self) -> None:
        """Start the kernels keys lack, ``PARALLEL_STARTS`` at a time (each
        start is a task of this one's group: cancelling this ends them)."""
        async with asyncio.TaskGroup() as starts:
            while True:
                self._poked.clear()  # before looking: a poke from now on is seen
                try:
                    await self._forget_idle()
                    key = await self._next_key()
                except Exception:  # reading /proc, ending a kernel: try again at the next poke
                    logger.exception("the kernel pool could not look at its kernels")
                    key = None
                if key is None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._until_idle()):
                            await self._poked.wait()
                    continue
                self._starting[key] += 1
                starts.create_task(self._start_one(key))

    async def _start_one(self, key: PoolKey) -> None:
        """Start a kernel for ``key`` (counted in ``_starting`` by the caller);
        never raises but its cancellation."""
        kernel: WarmKernel | None = None
        try:
            kernel = await self._start(key)
            self._failures.pop(key, None)
        except Exception as exc:  # a broken kernelspec: its steps start their own
            self._failures[key] += 1
            logger.warning(
                "pooled %s kernel failed to start (%d in a row): %r",
                key.kernel,
                self._failures[key],
                exc,
            )
        finally:
            async with self._changed:
                self._starting[key] -= 1
                if kernel is not None and key in self._wanted:
                    self._ready.setdefault(key, collections.deque()).append(kernel)
                    self._wanted[key] = time.monotonic()  # its idle time counts from now
                    kernel = None
                self._starts_ended += 1
                self._changed.notify_all()
            self._poked.set()
            if kernel is not None:  # its key went idle meanwhile
                await kernel.discard()

    async def _start(self, key: PoolKey) -> WarmKernel:
        home = self._directory / f"k{next(self._numbers)}"
        await asyncio.to_thread(home.mkdir)
        slot = await self._isolation.prepare_slot(home / VIEW_FOLDER)
        local = LocalKernel(
            key.kernel, connection_file=home / CONNECTION_FILE, command_prefix=slot.prefix
        )
        started_in = "/" if slot.root is not None else str(home)
        kernel = WarmKernel(key, slot, local, started_in)
        try:
            extra = [HISTORY_ARGUMENT] if local.manager.ipykernel else []
            relay: OutputSink = kernel.relay
            sink = GuardedSink(relay)
            await local.start(cwd=home, env=dict(key.env), extra_arguments=extra, sink=sink)
            kernel.client = local.manager.client()
            kernel.client.start_channels()
            await kernel.client.wait_for_ready(timeout=START_TIMEOUT_SECONDS)
            kernel.ready_at = time.monotonic()
        except BaseException:
            await kernel.discard()
            raise
        logger.debug("pooled %s kernel ready (pid %s)", key.kernel, local.pid)
        return kernel

    async def _next_key(self) -> PoolKey | None:
        """The key most recently asked for that lacks kernels (counting those
        starting), if fewer than ``PARALLEL_STARTS`` start and memory allows one more."""
        if sum(self._starting.values()) >= PARALLEL_STARTS:
            return None
        short = [
            key
            for key, _ in sorted(self._wanted.items(), key=lambda item: -item[1])
            if len(self._ready.get(key, ())) + self._starting[key] < self.options.size
            and self._failures[key] < MAX_FAILED_STARTS
        ]
        if not short:
            return None
        kernels = self.kernels()
        sizes = await asyncio.to_thread(lambda: [kernel.rss() for kernel in kernels])
        self._kernel_rss = max([*sizes, self._kernel_rss])
        starting = sum(self._starting.values())
        if starting and not self._kernel_rss:  # no kernel's size known yet: one at a time
            return None
        if sum(sizes) + self._kernel_rss * (1 + starting) > self.options.memory_bytes:
            return None
        return short[0]

    def _until_idle(self) -> float:
        if not self._wanted:
            return self.options.idle_seconds
        oldest = min(self._wanted.values())
        return max(0.0, oldest + self.options.idle_seconds - time.monotonic()) + 0.01

    async def _forget_idle(self) -> None:
        now = time.monotonic()
        idle = [
            key
            for key, at in self._wanted.items()
            if now - at >= self.options.idle_seconds and not self._starting[key]
        ]
        for key in idle:
            del self._wanted[key]
            self._failures.pop(key, None)
            kernels = self._ready.pop(key, collections.deque())
            if kernels:
                logger.info("ending %d idle pooled %s kernel(s)", len(kernels), key.kernel)
            await asyncio.gather(*(kernel.discard() for kernel in kernels))
