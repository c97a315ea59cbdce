"""The docker executor: each step attempt in a container of its environment's
image (brief 4.5 and 7), through the Docker engine's API (aiodocker).

What the container gets: the project directory at ``/project-dir`` (the step
file's folder as working directory), the frozen definition at
``/pipeline.json``, the data directory at ``/data``, the ``ORCHEST_*``
variables with the paths as the container sees them, host networking, CPU,
memory and process limits, no capabilities, ``no-new-privileges``, and
labels naming the run, step, attempt and runner (``reaping``). Scripts run as
the container's command; a notebook runs in an ipykernel started inside the
container, driven from the runner by nbclient over the host's loopback (the
image needs ipykernel, not nbclient). Output is the container's log,
followed live. On abort or timeout the container gets SIGTERM, then SIGKILL;
it is removed once the attempt ends, however it ends.

The project and data directories are bind mounts: paths on the engine's
host. The files the runner makes for an attempt (``/pipeline.json``, a
kernel's ``/kernel.json``) are bind-mounted read-only from the attempt's
scratch directory when the runner shares the host's file system, and copied
into the container before it starts when the runner runs in a container (its
``/tmp`` is its own); copying costs the engine some 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import secrets
import tarfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiodocker
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError
from jupyter_client.client import KernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

from orchest_schemas.commands import StepWork

from .base import ExecutionResult, OutputSink
from .control import Stop, stop_message, wait_or_stop
from .environment import sdk_pipeline_file, step_environment, step_parameters
from .notebook import read_notebook, run_notebook
from .reaping import (
    LABEL_ATTEMPT,
    LABEL_RUN,
    LABEL_STEP,
    RunnerIdentity,
    reap,
    with_own_container,
)
from .streaming import GuardedSink

logger = logging.getLogger(__name__)

PROJECT_DIR = Path("/project-dir")
PIPELINE_PATH = Path("/pipeline.json")
DATA_DIR = Path("/data")
KERNEL_CONNECTION_PATH = Path("/kernel.json")

DRAIN_SECONDS = 2.0
"""How long the log is still read once the container has exited."""
OOM_EXIT_CODE = 137
COMMANDS = {".py": ["python"], ".sh": ["bash"], ".r": ["Rscript"]}

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


@dataclass(frozen=True)
class DockerOptions:
    """How the executor makes containers (from the runner's settings)."""

    default_image: str = "orchest/kernel-python:latest"
    environment_images: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    """``None``: the owner of the project directory."""
    memory_bytes: int = 4 * 1024**3
    cpus: float = 2.0
    pids_limit: int = 1024
    data_dir: Path = Path("/var/lib/orchest/data")
    kill_grace_seconds: float = 1.0
    copy_files: bool | None = None
    """Copy the attempt's files into its container rather than mount them;
    ``None``: when the runner runs in a container."""

    def image_of(self, work: StepWork) -> str:
        return self.environment_images.get(work.step.environment) or self.default_image


def archive(files: Mapping[Path, Path]) -> bytes:
    """A tar of ``files`` (container path: runner's file), read-only for all."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, source in files.items():
            content = source.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to("/")))
            info.size, info.mode, info.mtime = len(content), 0o444, int(time.time())
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass(frozen=True)
class _Launch:
    """A step container, described: what ``create`` is given, less the command."""

    file: Path
    """The step file, on the runner's side."""
    image: str
    name: str
    cwd: Path
    env: dict[str, str]
    project_dir: Path
    data_dir: Path
    files: dict[Path, Path]
    """Container path to the runner's file: mounted read-only, or copied in."""
    scratch_dir: Path
    """The attempt's private directory on the runner (absolute)."""
    labels: dict[str, str]
    user: str


def container_config(
    launch: _Launch, command: list[str], options: DockerOptions, *, mount_files: bool
) -> dict[str, Any]:
    """The ``POST /containers/create`` body of a step container."""
    # Mounts, unlike Binds, refuse a missing source instead of creating it.
    mounts: list[dict[str, Any]] = [
        {"Type": "bind", "Source": str(launch.project_dir), "Target": str(PROJECT_DIR)}
    ]
    if mount_files:
        mounts += [
            {"Type": "bind", "Source": str(source), "Target": str(path), "ReadOnly": True}
            for path, source in launch.files.items()
        ]
    return {
        "Image": launch.image,
        "Cmd": command,
        "WorkingDir": str(launch.cwd),
        "Env": [f"{name}={value}" for name, value in launch.env.items()],
        "User": launch.user,
        "Labels": launch.labels,
        "Tty": False,
        "OpenStdin": False,
        "HostConfig": {
            "NetworkMode": "host",
            "Mounts": mounts,
            "Binds": [f"{launch.data_dir}:{DATA_DIR}"],  # made on the host when missing
            "Init": True,  # docker-init as pid 1: signals reach the step, zombies are reaped
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Privileged": False,
            "NanoCpus": int(options.cpus * 1e9),
            "Memory": options.memory_bytes,
            "MemorySwap": options.memory_bytes,
            "PidsLimit": options.pids_limit,
            "LogConfig": {"Type": "json-file", "Config": {}},
        },
    }


class _Container:
    """A created step container: started, followed, stopped, removed."""

    def __init__(self, container: DockerContainer) -> None:
        self.container = container
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._follow_task: asyncio.Task[None] | None = None
        self._wait_task: asyncio.Task[None] | None = None

    @property
    def short_id(self) -> str:
        return self.container.id[:12]

    async def start(self, sink: GuardedSink) -> None:
        await self.container.start()
        self._wait_task = asyncio.create_task(self._wait())
        self._follow_task = asyncio.create_task(self._follow(sink))

    async def _wait(self) -> None:
        try:
            status = await self.container.wait()
            code = int(status.get("StatusCode", -1))
        except DockerError as exc:  # removed meanwhile, or the engine went away
            logger.warning("waiting for container %s failed: %s", self.short_id, exc)
            code = -1
        if not self.exited.done():
            self.exited.set_result(code)

    async def _follow(self, sink: GuardedSink) -> None:
        with contextlib.suppress(DockerError):
            async for text in self.container.log(stdout=True, stderr=True, follow=True):
                await sink.send(text)

    async def stop(self, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL once ``grace_seconds`` passed; returns once it exited."""
        await self._signal("SIGTERM")
        await asyncio.wait({self.exited}, timeout=grace_seconds)
        if not self.exited.done():
            await self.kill()

    async def kill(self) -> None:
        await self._signal("SIGKILL")
        await asyncio.wait({self.exited}, timeout=DRAIN_SECONDS)

    async def _signal(self, name: str) -> None:
        with contextlib.suppress(DockerError):  # 409: it is not running (any more)
            await self.container.kill(signal=name)

    async def drain(self) -> None:
        """Let the log reach its end (briefly)."""
        if self._follow_task is not None:
            await asyncio.wait({self._follow_task}, timeout=DRAIN_SECONDS)

    async def remove(self) -> None:
        for task in (self._wait_task, self._follow_task):
            if task is not None:
                task.cancel()
        try:
            await self.container.delete(force=True, v=True)
        except DockerError as exc:
            if exc.status != 404:
                logger.warning("container %s not removed: %s", self.short_id, exc)

    async def out_of_memory(self) -> bool:
        with contextlib.suppress(DockerError):
            info = await self.container.show()
            return bool(info.get("State", {}).get("OOMKilled"))
        return False


class DockerExecutor:
    """Runs each step attempt in a container; implements ``StepExecutor``.

    ``open`` checks that the engine answers and reaps what dead runners left;
    containers are removed even when the attempt's task is cancelled (the
    removal then finishes in the background, awaited by ``close``).
    """

    def __init__(
        self, docker: aiodocker.Docker, identity: RunnerIdentity, options: DockerOptions
    ) -> None:
        self._docker = docker
        self.identity = identity
        self.options = options
        copy = options.copy_files
        self.copy_files = identity.container is not None if copy is None else copy
        self._removals: set[asyncio.Task[None]] = set()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, identity: RunnerIdentity, options: DockerOptions, url: str | None = None
    ) -> AsyncIterator[DockerExecutor]:
        """The executor on the engine at ``url`` (``None``: ``DOCKER_HOST``, else
        the local socket), once what dead runners left there is removed."""
        try:
            docker = aiodocker.Docker(url=url)
        except ValueError as exc:  # no DOCKER_HOST and no local socket
            raise RuntimeError(f"the docker executor needs a Docker engine: {exc}") from exc
        try:
            try:
                version = await docker.version()
            except (DockerError, OSError) as exc:
                raise RuntimeError(f"the docker executor needs a Docker engine: {exc}") from exc
            identity = await with_own_container(docker, identity)
            logger.info(
                "docker executor on Docker %s%s",
                version.get("Version"),
                f", in container {identity.container[:12]}" if identity.container else "",
            )
            executor = cls(docker, identity, options)
            try:
                reaped = await reap(docker, identity)
                if reaped:
                    logger.warning("removed %d step container(s) of dead runners", len(reaped))
                yield executor
            finally:
                await executor.close()
        finally:
            await docker.close()

    async def close(self) -> None:
        if self._removals:
            await asyncio.wait(self._removals)

    async def execute(
        self,
        work: StepWork,
        *,
        output: OutputSink,
        cancel: asyncio.Event,
        scratch_dir: Path,
    ) -> ExecutionResult:
        loop = asyncio.get_running_loop()
        deadline = None if work.timeout_seconds is None else loop.time() + work.timeout_seconds
        launch = await asyncio.to_thread(self._launch, work, scratch_dir)
        if isinstance(launch, ExecutionResult):
            return launch
        suffix = launch.file.suffix.lower()
        if suffix == ".ipynb":
            return await self._notebook(work, launch, output, cancel, deadline)
        if suffix not in COMMANDS:
            return ExecutionResult(None, f"unsupported step file type: {launch.file.name}")
        command = [*COMMANDS[suffix], str(PROJECT_DIR / work.step.file_path)]
        return await self._script(work, launch, command, output, cancel, deadline)

    def _launch(self, work: StepWork, scratch_dir: Path) -> _Launch | ExecutionResult:
        """Describe the container and write its pipeline file (blocking)."""
        project_dir = Path(work.project_dir).absolute()
        file = project_dir / work.step.file_path
        if not file.is_file():
            return ExecutionResult(None, f"step file not found: {work.step.file_path}")
        scratch_dir = scratch_dir.absolute()
        pipeline_file = scratch_dir / "pipeline.json"
        pipeline_file.write_bytes(sdk_pipeline_file(work))
        pipeline_file.chmod(0o644)  # the step's user may not be the runner's
        user = self.options.user
        if user is None:
            owner = project_dir.stat()
            user = f"{owner.st_uid}:{owner.st_gid}"
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        name = f"orchest-step-{work.run_uuid[:8]}-{work.step_uuid[:8]}-{work.attempt}"
        return _Launch(
            file=file,
            image=self.options.image_of(work),
            name=_NAME_UNSAFE.sub("-", f"{name}-{secrets.token_hex(3)}"),
            cwd=(PROJECT_DIR / work.step.file_path).parent,
            env=step_environment(
                work, base={}, project_dir=PROJECT_DIR, pipeline_path=PIPELINE_PATH
            ),
            project_dir=project_dir,
            data_dir=self.options.data_dir.absolute(),
            files={PIPELINE_PATH: pipeline_file},
            scratch_dir=scratch_dir,
            labels={
                LABEL_RUN: work.run_uuid,
                LABEL_STEP: work.step_uuid,
                LABEL_ATTEMPT: str(work.attempt),
                **self.identity.labels(),
            },
            user=user,
        )

    async def _create(self, launch: _Launch, command: list[str]) -> _Container | ExecutionResult:
        """Create the container (with the launch's files mounted, or copied in)."""
        config = container_config(launch, command, self.options, mount_files=not self.copy_files)
        try:
            created = await self._docker.containers.create(config, name=launch.name)
        except DockerError as exc:
            if exc.status == 404:
                return ExecutionResult(None, f"image {launch.image} not found on the Docker engine")
            return ExecutionResult(None, f"container not created: {exc.message}")
        container = _Container(created)
        if not self.copy_files:
            return container
        try:
            files = await asyncio.to_thread(archive, launch.files)
            await created.put_archive("/", files)  # type: ignore[no-untyped-call]
        except BaseException as exc:
            await asyncio.shield(self._remove_later(container))
            if isinstance(exc, DockerError):
                return ExecutionResult(None, f"files not copied into the container: {exc.message}")
            raise
        return container

    def _remove_later(self, container: _Container) -> asyncio.Task[None]:
        """Remove the container in a task of its own: a cancelled attempt still
        removes it (``close`` waits for it)."""
        task = asyncio.create_task(container.remove())
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)
        return task

    async def _script(
        self,
        work: StepWork,
        launch: _Launch,
        command: list[str],
        output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> ExecutionResult:
        container = await self._create(launch, command)
        if isinstance(container, ExecutionResult):
            return container
        sink = GuardedSink(output)
        stop: Stop | None = None
        try:
            try:
                await container.start(sink)
            except DockerError as exc:  # e.g. the command is not in the image
                return ExecutionResult(None, f"container did not start: {exc.message}")
            logger.info(
                "step %s of run %s (attempt %d) started in container %s",
                work.step_uuid,
                work.run_uuid,
                work.attempt,
                container.short_id,
            )
            stop = await wait_or_stop(container.exited, cancel, deadline)
            if stop is not None:
                logger.info(
                    "step %s of run %s: %s, stopping its container",
                    work.step_uuid,
                    work.run_uuid,
                    stop.value,
                )
                await container.stop(self.options.kill_grace_seconds)
            exit_code = await container.exited
            await container.drain()
            oom = exit_code == OOM_EXIT_CODE and stop is None and await container.out_of_memory()
        finally:
            await asyncio.shield(self._remove_later(container))
        sink.raise_failure()
        return self._result(exit_code, stop, work.timeout_seconds, oom)

    def _result(
        self, exit_code: int, stop: Stop | None, timeout_seconds: float | None, oom: bool
    ) -> ExecutionResult:
        if stop is not None:
            return ExecutionResult(
                exit_code,
                stop_message(stop, timeout_seconds),
                timed_out=stop is Stop.TIMED_OUT,
                aborted=stop is Stop.ABORTED,
            )
        if exit_code == 0:
            return ExecutionResult(0, None)
        if oom:
            limit = self.options.memory_bytes / 1024**2
            return ExecutionResult(exit_code, f"out of memory (limit {limit:.0f} MiB)")
        return ExecutionResult(exit_code, f"exit code {exit_code}")

    async def _notebook(
        self,
        work: StepWork,
        launch: _Launch,
        output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> ExecutionResult:
        nb = await read_notebook(launch.file)
        if isinstance(nb, ExecutionResult):
            return nb
        kernel = ContainerKernel(self, launch, launch.scratch_dir / "kernel.json")
        return await run_notebook(
            work,
            nb,
            kernel,
            language="python",
            parameters=step_parameters(work),
            cwd=launch.cwd,
            env=launch.env,
            output=output,
            cancel=cancel,
            deadline=deadline,
        )


# -- notebooks: an ipykernel in the container ----------------------------------------------


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
    message signing key) is made here and given to it as ``/kernel.json``; the
    kernel's own output is the container's log."""

    def __init__(self, executor: DockerExecutor, launch: _Launch, connection_file: Path) -> None:
        self._executor = executor
        self._launch = launch
        self.manager = AsyncKernelManager(
            kernel_name="python3", connection_file=str(connection_file)
        )
        self.manager.write_connection_file()
        connection_file.chmod(0o644)  # the kernel's user may not be the runner's
        self._provisioner = _ContainerProvisioner(parent=self.manager)
        self.manager.provisioner = self._provisioner
        self._connection_file = connection_file
        self._container: _Container | None = None

    @property
    def exit_code(self) -> int | None:
        container = self._container
        if container is None or not container.exited.done():
            return None
        return container.exited.result()

    async def start(
        self, *, cwd: Path, env: dict[str, str], extra_arguments: list[str], sink: GuardedSink
    ) -> None:
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
        created = await self._executor._create(launch, command)
        if isinstance(created, ExecutionResult):
            raise RuntimeError(created.error)
        try:
            await created.start(sink)
        except BaseException:
            await asyncio.shield(self._executor._remove_later(created))
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
        if container is not None:
            try:
                if not container.exited.done():
                    await container.kill()
                await container.drain()
            finally:
                await asyncio.shield(self._executor._remove_later(container))
