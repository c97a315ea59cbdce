"""A notebook step's kernel in its step container: an ipykernel that the
runner drives with nbclient over the host's loopback (the container shares
the host's network; the image needs ipykernel, not nbclient). Its ports are
held from their choice until it has ended (``kernel_ports``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.client import KernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

from orchest_service.docker import Container

from .base import ExecutionResult
from .kernel_ports import KernelPorts
from .step_container import Launch
from .streaming import GuardedSink

if TYPE_CHECKING:
    from .docker import DockerExecutor

KERNEL_CONNECTION_PATH = Path("/kernel.json")


class _ContainerProvisioner(KernelProvisionerBase):
    """Tells jupyter_client (and so nbclient) whether the kernel's container
    runs. The container is started and ended by ``ContainerKernel``."""

    exited: asyncio.Future[int] | None = None

    @property
    def has_process(self) -> bool:
        return True

    async def poll(self) -> int | None:
        if self.exited is None or not self.exited.done():
            return None
        return self.exited.result()

    async def wait(self) -> int | None:
        return None if self.exited is None else await asyncio.shield(self.exited)

    async def send_signal(self, signum: int) -> None:
        """Signals go through ``ContainerKernel``."""

    async def kill(self, restart: bool = False) -> None:
        """Killing goes through ``ContainerKernel``."""

    async def terminate(self, restart: bool = False) -> None:
        """Ending goes through ``ContainerKernel``."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        raise NotImplementedError("the kernel's container is started by ContainerKernel")

    async def cleanup(self, restart: bool = False) -> None:
        """Nothing: ``ContainerKernel`` removes the container."""


class ContainerKernel:
    """An ipykernel in a step container (a ``NotebookKernel``). The connection
    file (ports on the host's loopback, which the container shares, and the
    message signing key) is made at its start and given to it as
    ``/kernel.json``; the kernel's own output is the container's log."""

    def __init__(self, executor: DockerExecutor, launch: Launch, connection_file: Path) -> None:
        self._executor = executor
        self._launch = launch
        self.manager = AsyncKernelManager(
            kernel_name="python3", connection_file=str(connection_file)
        )
        self._provisioner = _ContainerProvisioner(parent=self.manager)
        self.manager.provisioner = self._provisioner
        self._connection_file = connection_file
        self._container: Container | None = None
        self._ports: KernelPorts | None = None

    @property
    def exit_code(self) -> int | None:
        container = self._container
        if container is None or not container.exited.done():
            return None
        return container.exited.result()

    def _write_connection_file(self) -> None:
        """The connection file, on ports held until ``shut_down``."""
        self._ports = KernelPorts.reserve(self.manager.ip)
        for name, port in self._ports.ports.items():
            setattr(self.manager, name, port)
        self.manager.write_connection_file()
        self._connection_file.chmod(0o644)  # the kernel's user may not be the runner's

    async def start(
        self, *, cwd: Path, env: dict[str, str], extra_arguments: list[str], sink: GuardedSink
    ) -> None:
        self._write_connection_file()
        launch = replace(
            self._launch,
            cwd=cwd,
            # Its parent is the container's init (pid 1), which never goes away:
            # no parent polling, and no terminal banner in the step's output.
            env={**env, "JPY_PARENT_PID": "1"},
            files={**self._launch.files, KERNEL_CONNECTION_PATH: self._connection_file},
        )
        command = [
            "python",
            "-m",
            "ipykernel_launcher",
            "-f",
            str(KERNEL_CONNECTION_PATH),
            *extra_arguments,
        ]
        created = await self._executor.create(launch, command)
        if isinstance(created, ExecutionResult):
            raise RuntimeError(created.error)
        try:
            await created.start(sink.send)
        except BaseException:
            await asyncio.shield(self._executor.remove_later(created))
            raise
        self._container = created
        self._provisioner.exited = created.exited

    async def kill(self) -> None:
        if self._container is not None:
            await self._container.kill()

    async def shut_down(self, client: KernelClient | None) -> None:
        if client is not None:
            client.stop_channels()
        container = self._container
        try:
            if container is not None:
                try:
                    if not container.exited.done():
                        await container.kill()
                    await container.drain()
                finally:
                    await asyncio.shield(self._executor.remove_later(container))
        finally:
            if self._ports is not None:
                self._ports.release()
