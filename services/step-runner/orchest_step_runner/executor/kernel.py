"""A local Jupyter kernel process for one notebook attempt.

The kernel leads its own session (jupyter_client starts it so), so its process
group holds what its cells start; descendants that left the group are found
through psutil. Its own stdout and stderr (start-up errors, crashes; not the
cells' output, which comes over IOPub) go to the step's output.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from subprocess import Popen
from typing import Any

import psutil
import zmq
from jupyter_client.client import KernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import observe

from .spawn import OutputPipe
from .streaming import GuardedSink, pump_stream
from .tree import kill_attempt, process_tree

STDIO_DRAIN_SECONDS = 1.0


class _StepKernelManager(AsyncKernelManager):
    """Starts the kernelspec of the name it is given, after ``command_prefix``
    (the step's file-system view: ``isolation.py``).

    jupyter_client's manager renames ``python`` to ``python3`` when its name is
    set (an observer of ``kernel_name``), so a kernelspec named ``python``
    would never start: ``python3``, another kernelspec or ipykernel's own (the
    runner's interpreter), would run in its place. This observer replaces that
    one (traitlets registers one handler per method name) and only forgets the
    cached spec, as the original also does."""

    def __init__(self, *, command_prefix: list[str], python: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._command_prefix = command_prefix
        self._python = python

    @observe("kernel_name")
    def _kernel_name_changed(self, change: dict[str, str]) -> None:
        self._kernel_spec = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self._python is not None and command:  # the interpreter of the step's environment
            command = [self._python, *command[1:]]
        return [*self._command_prefix, *command]


class KernelOutput:
    """The kernel process's own stdout and stderr (one pipe), forwarded to
    the step's output until its end.

    The pipe is read as a step's leader's is (``spawn.OutputPipe``: the loop
    watches the descriptor only while a read waits, and it is closed once,
    after the loop stopped watching it), not through ``connect_read_pipe``:
    uvloop's read-pipe transport, made from a file object, closes the
    descriptor twice (libuv's close, then the file object's), and between
    the two another thread (zmq's I/O thread reconnecting to a kernel that
    died) may have been given the number (``docs/reliability.md``, "The
    services on uvloop")."""

    def __init__(self, read_fd: int, sink: GuardedSink) -> None:
        """Forward what arrives on ``read_fd`` (taken: closed by ``finish``)."""
        self._pipe = OutputPipe(read_fd, asyncio.get_running_loop())
        self._pump = asyncio.create_task(pump_stream(self._pipe, sink))

    async def finish(self, drain_seconds: float) -> None:
        """Forward what is left until the pipe ends, at most ``drain_seconds``,
        then close it."""
        await asyncio.wait({self._pump}, timeout=drain_seconds)
        self._pump.cancel()
        self._pipe.close()


class LocalKernel:
    """One kernel process: started with the step's cwd and environment, ended
    with everything it started (``marker``: the attempt's environment ids)."""

    def __init__(
        self,
        kernel_name: str,
        *,
        connection_file: Path,
        marker: Mapping[str, str] | None = None,
        since: float = 0.0,
        command_prefix: list[str] | None = None,
        python: str | None = None,
    ) -> None:
        """``python``: the interpreter that runs the kernelspec's ``argv``
        in place of its own (a Python kernel of the step's environment)."""
        self._marker: Mapping[str, str] = marker or {}
        self._since = since
        self.manager: AsyncKernelManager = _StepKernelManager(
            command_prefix=command_prefix or [],
            python=python,
            kernel_name=kernel_name,
            connection_file=str(connection_file),
            # CurveZMQ keys when the kernelspec supports them (ipykernel does): the
            # kernel's ports are not open in plain text to the host's other users.
            transport_encryption="auto" if zmq.has("curve") else "disabled",
        )
        self._popen: Popen[Any] | None = None
        self.pid: int | None = None
        self._pgid: int | None = None
        self._seen: list[psutil.Process] = []
        self._stdio: KernelOutput | None = None

    async def start(
        self, *, cwd: Path, env: dict[str, str], extra_arguments: list[str], sink: GuardedSink
    ) -> None:
        """Start the kernel process (not waiting for it to be ready). Whether
        this succeeds or fails, ``shut_down`` ends what was started."""
        read_fd, write_fd = os.pipe()
        try:
            await self.manager.start_kernel(
                cwd=str(cwd),
                env=env,
                extra_arguments=extra_arguments,
                stdout=write_fd,
                stderr=write_fd,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
            # Known even when start-up failed after the launch, for shut_down.
            provisioner = self.manager.provisioner
            self._popen = getattr(provisioner, "process", None)
            self.pid = getattr(provisioner, "pid", None)
            self._pgid = getattr(provisioner, "pgid", None) or self.pid
        self._stdio = KernelOutput(read_fd, sink)

    @property
    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.returncode

    def running(self) -> bool:
        """Started and not exited."""
        return self._popen is not None and self._popen.poll() is None

    def adopt(self, marker: Mapping[str, str], since: float) -> None:
        """A kernel started before its attempt (``kernel_pool``): what it
        starts from now on is the attempt's (``marker``, from ``since``)."""
        self._marker = marker
        self._since = since

    async def kill(self) -> None:
        """SIGKILL the kernel and everything it started, at once."""
        if self.pid is not None and self._pgid is not None:
            self._seen = await asyncio.to_thread(process_tree, self.pid)
            await kill_attempt(self._pgid, self._marker, self._seen, self._since)

    async def shut_down(self, client: KernelClient | None) -> None:
        """End the kernel now (no graceful shutdown) with everything it started,
        then forward what remains of its own output."""
        if self.pid is not None:
            self._seen += await asyncio.to_thread(process_tree, self.pid)
        if client is not None:
            client.stop_channels()
        # Killed and awaited here first (polling every 20 ms): jupyter_client's
        # kill polls every 100 ms, and finds it gone at once after this.
        if self._pgid is not None:
            await kill_attempt(self._pgid, self._marker, self._seen, self._since)
        await self.manager.shutdown_kernel(now=True)
        if self._stdio is not None:
            await self._stdio.finish(STDIO_DRAIN_SECONDS)
