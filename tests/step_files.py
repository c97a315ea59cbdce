"""What the executor tests (process and docker) hand an executor: a project
directory with step files in ``steps/``, a scratch directory, the step work
over them, and an output sink the tests await text from; and the two ways
they run it (to its end, or in the background while the test acts)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

import nbformat

from orchest_schemas.commands import StepWork
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import Priority
from orchest_step_runner.executor import ExecutionResult, StepExecutor


class Output:
    """An output sink that records what arrives and lets tests await text."""

    def __init__(self, wait_seconds: float = 60.0) -> None:
        self.wait_seconds = wait_seconds
        """How long ``wait_for`` waits by default."""
        self.chunks: list[str] = []
        self._arrived = asyncio.Event()

    async def __call__(self, text: str) -> None:
        self.chunks.append(text)
        self._arrived.set()

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    async def wait_for(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        async with asyncio.timeout(self.wait_seconds if timeout is None else timeout):
            while (match := re.search(pattern, self.text)) is None:
                self._arrived.clear()
                await self._arrived.wait()
        return match


class StepFiles:
    """A project directory with step files in ``steps/``, and a scratch directory.

    A subclass names the fields its executor reads: ``pipeline`` of the
    definition, and ``step`` of its step."""

    result_timeout: ClassVar[float] = 60.0
    """How long a step may take to end on its own, and output to arrive."""
    pipeline: ClassVar[dict[str, Any]] = {}
    step: ClassVar[dict[str, Any]] = {}

    def __init__(self, root: Path, project_uuid: str) -> None:
        self.dir = root / "project"
        self.steps = self.dir / "steps"
        self.steps.mkdir(parents=True)
        self.scratch = root / "scratch"
        self.scratch.mkdir()
        self.project_uuid = project_uuid

    def write(self, name: str, source: str) -> str:
        (self.steps / name).write_text(textwrap.dedent(source))
        return f"steps/{name}"

    def notebook(self, name: str, *cells: tuple[str, list[str]]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nb.cells = [
            nbformat.v4.new_code_cell(textwrap.dedent(source), metadata={"tags": tags})
            for source, tags in cells
        ]
        nbformat.write(nb, self.steps / name)
        return f"steps/{name}"

    def work(
        self, file_path: str, *, step: dict[str, Any] | None = None, **fields: Any
    ) -> StepWork:
        """The second attempt of a one-step pipeline in this project: ``step``
        adds to the class's ``step`` fields, ``fields`` are ``one_step_work``'s
        (parameters, env, timeout, ...)."""
        return one_step_work(
            self.dir,
            file_path,
            attempt=2,
            project_uuid=self.project_uuid,
            pipeline=self.pipeline,
            step={**self.step, **(step or {})},
            **fields,
        )

    def output(self) -> Output:
        return Output(self.result_timeout)

    async def run(self, executor: StepExecutor, work: StepWork) -> tuple[ExecutionResult, Output]:
        """Run ``work`` to its end (within ``result_timeout``)."""
        output = self.output()
        result = await asyncio.wait_for(
            executor.execute(work, output=output, cancel=asyncio.Event(), scratch_dir=self.scratch),
            self.result_timeout,
        )
        return result, output

    @contextlib.asynccontextmanager
    async def running(
        self, executor: StepExecutor, work: StepWork
    ) -> AsyncIterator[tuple[asyncio.Task[ExecutionResult], asyncio.Event, Output]]:
        """Run ``work`` in the background; on exit, make sure it is over."""
        output = self.output()
        cancel = asyncio.Event()
        task = asyncio.create_task(
            executor.execute(work, output=output, cancel=cancel, scratch_dir=self.scratch)
        )
        try:
            yield task, cancel, output
        finally:
            if not task.done():
                cancel.set()
            await asyncio.wait({task}, timeout=self.result_timeout)


def one_step_work(
    project_dir: Path,
    file_path: str,
    *,
    pipeline: dict[str, Any] | None = None,
    step: dict[str, Any] | None = None,
    step_uuid: str | None = None,
    attempt: int = 1,
    project_uuid: str | None = None,
    parameters: dict[str, Any] | None = None,
    step_parameters: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    job_uuid: str | None = None,
) -> StepWork:
    """Interactive step work of a one-step pipeline running ``file_path`` of
    ``project_dir``; ``pipeline`` and ``step`` add fields to the definition and
    its step (fresh uuids where none is given)."""
    step_uuid = step_uuid or str(uuid4())
    definition = PipelineDefinition.model_validate(
        {
            "uuid": str(uuid4()),
            **(pipeline or {}),
            "parameters": parameters or {},
            "steps": {
                step_uuid: {
                    "uuid": step_uuid,
                    "file_path": file_path,
                    **(step or {}),
                    "parameters": step_parameters or {},
                }
            },
        }
    )
    return StepWork(
        run_uuid=str(uuid4()),
        step_uuid=step_uuid,
        attempt=attempt,
        priority=Priority.INTERACTIVE,
        definition_key=uuid4().hex,
        pipeline_definition=definition,
        project_dir=str(project_dir),
        project_uuid=project_uuid or str(uuid4()),
        job_uuid=job_uuid,
        env_variables=env or {},
        timeout_seconds=timeout,
    )
