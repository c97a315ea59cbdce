"""A notebook's cells on a kernel: the client that streams their outputs, the
runner that executes them in order, and what a notebook's kernel must offer
(a local process or a container)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from jupyter_client.client import KernelClient
from jupyter_client.manager import AsyncKernelManager, KernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

from .streaming import GuardedSink

KERNEL_STARTS = 3
"""How many kernels an attempt starts, at most, when each dies before it is
ready or does not answer within the start deadline. No cell has run then, so
another start is safe. A kernel's ports are chosen before it binds them, so
another process of the host can take one in between (``kernel_ports``): the
kernel exits with "Address already in use" (nbclient says it "died before
replying to kernel_info"), or, when the port is its IOPub one, it never exits
and never answers."""

START_SECONDS = 30.0
"""The start deadline when none is given: how long a started kernel may take
to answer its first request (``kernel_info``)."""


class StreamingNotebookClient(NotebookClient):
    """A ``NotebookClient`` that also hands stream and error outputs to ``emit``."""

    def __init__(
        self, nb: NotebookNode, km: KernelManager, emit: Callable[[str], None], **kw: Any
    ) -> None:
        super().__init__(nb, km=km, **kw)
        self._emit = emit

    def output(
        self,
        outs: list[NotebookNode],
        msg: dict[str, Any],
        display_id: str | None,
        cell_index: int,
    ) -> NotebookNode | None:
        content = msg.get("content", {})
        if msg["msg_type"] == "stream":
            self._emit(str(content.get("text", "")))
        elif msg["msg_type"] == "error":
            self._emit(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}\n")
        return super().output(outs, msg, display_id, cell_index)


class NotebookKernel(Protocol):
    """The kernel of one notebook attempt: a local process (``LocalKernel``) or
    a container (the docker executor). ``manager`` is what nbclient talks to."""

    manager: AsyncKernelManager

    @property
    def exit_code(self) -> int | None: ...

    async def start(
        self, *, cwd: Path, env: dict[str, str], extra_arguments: list[str], sink: GuardedSink
    ) -> None:
        """Start the kernel (not waiting for it to be ready); ``shut_down``
        ends what was started, whether this succeeded or not."""

    async def kill(self) -> None:
        """End the kernel at once (abort, timeout)."""

    async def shut_down(self, client: KernelClient | None) -> None:
        """End the kernel and all it started; forward what remains of its output."""


class CellRunner:
    """Runs the notebook's cells in order; remembers which cell runs and which
    kernel runs them (``another`` replaces one that dies before it is ready,
    or does not answer within ``start_seconds`` of its start)."""

    def __init__(
        self,
        client: StreamingNotebookClient,
        nb: NotebookNode,
        kernel: NotebookKernel,
        *,
        start: Callable[[NotebookKernel], Awaitable[None]],
        sink: GuardedSink,
        another: Callable[[], NotebookKernel] | None = None,
        preamble: str | None = None,
        connected: KernelClient | None = None,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.client = client
        self.nb = nb
        self.kernel = kernel
        self.start = start
        self.sink = sink
        self.another = another
        self.preamble = preamble
        self.connected = connected
        self.start_seconds = start_seconds
        self.current_cell = -1

    async def run(self) -> None:
        client = self.client
        if self.connected is None:
            kc = await self._connect()
        else:  # a warm kernel's: its IOPub subscription already made (no slow joiner)
            kc = client.kc = self.connected
            kc.allow_stdin = False
        if self.preamble is not None:
            msg_id = kc.execute(self.preamble, silent=True, store_history=False, allow_stdin=False)
            done = await client.async_wait_for_reply(msg_id)
            content = {} if done is None else done["content"]
            if content.get("status") != "ok":
                detail = f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"
                raise RuntimeError(f"the warm kernel could not take the step: {detail}")
        reply = await client.async_wait_for_reply(kc.kernel_info())
        if reply is not None and "language_info" in reply["content"]:
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
        for index, cell in enumerate(self.nb.cells):
            self.current_cell = index
            await client.async_execute_cell(
                cell, index, execution_count=client.code_cells_executed + 1
            )
        client.set_widgets_metadata()

    async def _connect(self) -> KernelClient:
        """A client of the started kernel once it is ready; a kernel that dies
        before, or does not answer within ``start_seconds``, is ended and
        replaced, up to ``KERNEL_STARTS`` kernels in all."""
        for start in range(1, KERNEL_STARTS + 1):
            last = self.another is None or start == KERNEL_STARTS
            try:
                client = await self._ready()
            except RuntimeError as error:
                if last or "died" not in str(error):
                    raise
                await self.kernel.shut_down(None)  # what it printed is forwarded first
                why = f"exited (code {self.kernel.exit_code}) before it was ready:"
            else:
                if client is not None:
                    return client
                if last:  # ended by run_notebook, with its client (``self.client.kc``)
                    raise RuntimeError(self._not_answered(start))
                await self.kernel.shut_down(self.client.kc)
                self.client.kc = None
                why = f"did not answer within {self.start_seconds:g}s of its start: ended it,"
            await self.sink.send(
                f"The kernel {why} starting another ({start + 1} of {KERNEL_STARTS}).\n"
            )
            assert self.another is not None  # not the last start
            self.kernel = self.another()
            self.client.km = self.kernel.manager
            try:
                await self.start(self.kernel)
            except Exception as exc:  # reported as the first start's failure is
                raise RuntimeError(str(exc)) from exc
        raise AssertionError("the last start returns or raises")

    def _not_answered(self, started: int) -> str:
        within = f"within {self.start_seconds:g}s of its start"
        if self.another is None:
            return f"the kernel did not answer {within} (its output is in the step's log)"
        return f"none of {started} kernels answered {within} (their output is in the step's log)"

    async def _ready(self) -> KernelClient | None:
        """The kernel's client once the kernel answered ``kernel_info``;
        ``None`` when it did not within ``start_seconds`` (the client, its
        channels started, is left in ``self.client.kc``). A kernel that dies
        before is nbclient's ``RuntimeError`` (nbclient has let go of it)."""
        try:
            async with asyncio.timeout(self.start_seconds) as deadline:
                return await self.client.async_start_new_kernel_client()
        except TimeoutError:
            if not deadline.expired():
                raise
            return None
