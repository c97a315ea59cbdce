"""A notebook's cells on a kernel: the client that streams their outputs, the
runner that executes them in order, and what a notebook's kernel must offer
(a local process or a container)."""

from __future__ import annotations

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
ready. No cell has run then, so another start is safe; and a kernel's ports
are chosen by binding and releasing them before the kernel binds them, so
another process of the host can take one in between (the kernel exits with
"Address already in use" and nbclient says it "died before replying to
kernel_info")."""


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
    kernel runs them (``another`` replaces one that dies before it is ready)."""

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
    ) -> None:
        self.client = client
        self.nb = nb
        self.kernel = kernel
        self.start = start
        self.sink = sink
        self.another = another
        self.preamble = preamble
        self.connected = connected
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
        before is replaced, up to ``KERNEL_STARTS`` kernels in all."""
        for start in range(2, KERNEL_STARTS + 1):
            try:
                return await self.client.async_start_new_kernel_client()
            except RuntimeError as error:
                if self.another is None or "died" not in str(error):
                    raise
            await self.kernel.shut_down(None)  # what it printed is forwarded first
            await self.sink.send(
                f"The kernel exited (code {self.kernel.exit_code}) before it was ready:"
                f" starting another ({start} of {KERNEL_STARTS}).\n"
            )
            self.kernel = self.another()
            self.client.km = self.kernel.manager
            try:
                await self.start(self.kernel)
            except Exception as exc:  # reported as the first start's failure is
                raise RuntimeError(str(exc)) from exc
        return await self.client.async_start_new_kernel_client()
