"""The docker executor: each step attempt in a container of its environment's
image (``docs/runs.md#step-execution-docker-executor``), through the shared Docker adapter
(``orchest_service.docker``: every request to the engine has a timeout).

What the container gets: the project directory at ``/project-dir`` (the step
file's folder as working directory), the frozen definition at
``/pipeline.json``, the data directory at ``/data``, the ``ORCHEST_*``
variables with the paths as the container sees them, and what the adapter
gives every container (host networking, CPU, memory and process limits, no
capabilities, ``no-new-privileges``), with labels naming the run, step,
attempt and runner (``reaping``). Scripts run as the container's command; a
notebook runs in an ipykernel started inside the container
(``container_kernel``). Output is the container's log, followed live. On
abort or timeout the container gets SIGTERM, then SIGKILL; it is removed once
the attempt ends, however it ends. An engine that does not answer a request
in time ends the attempt as a failure saying so (``DockerFailure``).

The project and data directories are bind mounts: paths on the engine's
host. The files the runner makes for an attempt (``/pipeline.json``, a
kernel's ``/kernel.json``) are bind-mounted read-only from the attempt's
scratch directory when the runner shares the host's file system, and copied
into the container before it starts when the runner runs in a container (its
``/tmp`` is its own); copying costs the engine some 50 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from orchest_schemas.commands import StepWork
from orchest_service.docker import Container, DockerEngine, DockerFailure, DockerNotFound

from .base import Attempt, ExecutionResult, OutputSink, StepExecutor, missing_step_file
from .container_kernel import ContainerKernel
from .control import Stop, script_result, wait_or_stop
from .environment import sdk_pipeline_file, step_environment, step_parameters
from .kernel_choice import OfferedKernel
from .notebook import kernel_for, read_notebook, run_notebook
from .reaping import (
    LABEL_ATTEMPT,
    LABEL_RUN,
    LABEL_STEP,
    RunnerIdentity,
    reap,
    with_own_container,
)
from .scripts import script_type, unsupported
from .step_container import (
    PIPELINE_PATH,
    PROJECT_DIR,
    DockerOptions,
    Launch,
    archive,
    step_container_config,
)
from .streaming import GuardedSink
from .write_back import write_back_executed

__all__ = ["DockerExecutor", "DockerOptions"]

logger = logging.getLogger(__name__)

CONTAINER_KERNELS = (OfferedKernel("python3", "python"),)
"""What a step container offers notebooks: the image's ipykernel (``ContainerKernel``)."""
OOM_EXIT_CODE = 137

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


NOT_FOUND_EXIT_CODE = 127
"""A command not found, as an image's init (tini) or shell says it."""
OUTPUT_HEAD = 1024
"""How much of a script's first output is kept to tell a missing program."""


def _not_in_image(result: ExecutionResult, head: str, program: str) -> bool:
    """The script's program is not in the image: the engine refused to start
    the container (no entrypoint), or the image's init could not exec it
    (``[FATAL tini (7)] exec node failed: No such file or directory``)."""
    error = result.error or ""
    if result.exit_code is None:
        return f'"{program}": executable file not found' in error
    first = head.splitlines()[0] if head else ""
    return (
        result.exit_code == NOT_FOUND_EXIT_CODE
        and program in first
        and ("No such file or directory" in first or "not found" in first)
    )


class _Head:
    """An output sink that forwards everything and keeps the first bytes."""

    def __init__(self, output: OutputSink) -> None:
        self._output = output
        self.text = ""

    async def __call__(self, text: str) -> None:
        if len(self.text) < OUTPUT_HEAD:
            self.text += text[: OUTPUT_HEAD - len(self.text)]
        await self._output(text)


class DockerExecutor(StepExecutor):
    """Runs each step attempt in a container; implements ``StepExecutor``.

    ``open`` checks that the engine answers and reaps what dead runners left;
    containers are removed even when the attempt's task is cancelled (the
    removal then finishes in the background, awaited by ``close``).
    """

    def __init__(
        self, engine: DockerEngine, identity: RunnerIdentity, options: DockerOptions
    ) -> None:
        self.engine = engine
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
        async with DockerEngine.open(url, options.timeouts) as engine:
            try:
                version = await engine.version()
            except DockerFailure as exc:
                raise RuntimeError(f"the docker executor needs a Docker engine: {exc}") from exc
            identity = await with_own_container(engine, identity)
            logger.info(
                "docker executor on Docker %s%s",
                version.get("Version"),
                f", in container {identity.container[:12]}" if identity.container else "",
            )
            executor = cls(engine, identity, options)
            try:
                reaped = await reap(engine, identity)
                if reaped:
                    logger.warning("removed %d step container(s) of dead runners", len(reaped))
                yield executor
            finally:
                await executor.close()

    async def close(self) -> None:
        if self._removals:
            await asyncio.wait(self._removals)

    async def _attempt(self, work: StepWork, attempt: Attempt) -> ExecutionResult:
        output, cancel, deadline = attempt.output, attempt.cancel, attempt.deadline
        launch = await asyncio.to_thread(self._launch, work, attempt.scratch_dir)
        if isinstance(launch, ExecutionResult):
            return launch
        kind = script_type(launch.file)
        notebook = launch.file.suffix.lower() == ".ipynb"
        if kind is None and not notebook:
            return ExecutionResult(None, unsupported(launch.file))
        try:
            if kind is None:
                return await self._notebook(work, launch, output, cancel, deadline)
            # The image's programs: its python is the one its kernel runs in.
            command = [kind.program, str(PROJECT_DIR / work.step.file_path)]
            head = _Head(output)
            result = await self._script(work, launch, command, head, cancel, deadline)
            if _not_in_image(result, head.text, kind.program):
                missing = kind.missing(f" in the image {launch.image}")
                return ExecutionResult(result.exit_code, missing)
            return result
        except DockerFailure as exc:  # the engine failed us (e.g. did not answer in time)
            logger.warning("step %s of run %s: %s", work.step_uuid, work.run_uuid, exc)
            return ExecutionResult(None, f"Docker: {exc}")

    def _launch(self, work: StepWork, scratch_dir: Path) -> Launch | ExecutionResult:
        """Describe the container and write its pipeline file (blocking)."""
        project_dir = Path(work.project_dir).absolute()
        file = project_dir / work.step.file_path
        if not file.is_file():
            return missing_step_file(work)
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
        return Launch(
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

    async def create(self, launch: Launch, command: list[str]) -> Container | ExecutionResult:
        """Create the container (with the launch's files mounted, or copied in).
        A ``DockerFailure`` other than a missing image is raised, once what the
        engine may have created is being removed."""
        mount_files = not self.copy_files
        config = step_container_config(launch, command, self.options, mount_files=mount_files)
        try:
            created = Container(self.engine, await self.engine.create(config, launch.name))
        except DockerNotFound:
            return ExecutionResult(None, f"image {launch.image} not found on the Docker engine")
        except BaseException:
            # Not answered in time, or cancelled: it may exist all the same.
            await asyncio.shield(self.remove_later(Container(self.engine, launch.name)))
            raise
        if not self.copy_files:
            return created
        try:
            files = await asyncio.to_thread(archive, launch.files)
            await self.engine.put_archive(created.ref, "/", files)
        except BaseException:
            await asyncio.shield(self.remove_later(created))
            raise
        return created

    def remove_later(self, container: Container) -> asyncio.Task[None]:
        """Remove the container in a task of its own: a cancelled attempt still
        removes it (``close`` waits for it)."""
        task = asyncio.create_task(container.remove())
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)
        return task

    async def _script(
        self,
        work: StepWork,
        launch: Launch,
        command: list[str],
        output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> ExecutionResult:
        creating = asyncio.ensure_future(self.create(launch, command))
        try:
            stop = await wait_or_stop(creating, cancel, deadline)
        except BaseException:
            await self._abandon(creating)
            raise
        if stop is not None:  # while the engine makes the container
            await self._abandon(creating)
            return self._result(None, stop, work.timeout_seconds, oom=False)
        container = creating.result()
        if isinstance(container, ExecutionResult):
            return container
        sink = GuardedSink(output)
        try:
            try:
                await container.start(sink.send)
            except DockerFailure as exc:  # e.g. the command is not in the image
                if exc.status is None:
                    raise  # the engine, not the container
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
            exit_code = await container.exit_code()
            await container.drain()
            oom = exit_code == OOM_EXIT_CODE and stop is None and await container.out_of_memory()
        finally:
            await asyncio.shield(self.remove_later(container))
        sink.raise_failure()
        return self._result(exit_code, stop, work.timeout_seconds, oom)

    async def _abandon(self, creating: asyncio.Future[Container | ExecutionResult]) -> None:
        """Cancel a create (``create`` then removes what the engine may have
        made); a container made meanwhile is removed."""
        creating.cancel()
        await asyncio.wait({creating})
        if creating.cancelled() or creating.exception() is not None:
            return
        made = creating.result()
        if isinstance(made, Container):
            await asyncio.shield(self.remove_later(made))

    def _result(
        self, exit_code: int | None, stop: Stop | None, timeout_seconds: float | None, oom: bool
    ) -> ExecutionResult:
        cause = None
        if oom:
            cause = f"out of memory (limit {self.options.memory_bytes / 1024**2:.0f} MiB)"
        return script_result(exit_code, stop, timeout_seconds, cause)

    async def _notebook(
        self,
        work: StepWork,
        launch: Launch,
        output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> ExecutionResult:
        notebook = await read_notebook(launch.file, work.step.file_path)
        if isinstance(notebook, ExecutionResult):
            return notebook
        nb = notebook.nb
        choice = kernel_for(work, nb, CONTAINER_KERNELS)
        if isinstance(choice, ExecutionResult):
            return choice
        starts = itertools.count(1)

        def container() -> ContainerKernel:
            # A kernel that replaces one (``run_notebook``) gets a container name
            # of its own: the container it replaces may not be removed yet.
            start = next(starts)
            named = launch if start == 1 else replace(launch, name=f"{launch.name}-k{start}")
            return ContainerKernel(self, named, launch.scratch_dir / "kernel.json")

        result = await run_notebook(
            work,
            nb,
            container(),
            language=choice.language,
            parameters=step_parameters(work),
            cwd=launch.cwd,
            env=launch.env,
            output=output,
            cancel=cancel,
            deadline=deadline,
            another=container,
            start_seconds=self.options.kernel_start_seconds,
        )
        return await write_back_executed(result, notebook, output)
