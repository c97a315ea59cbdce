"""Figure 9: what a step costs in the docker executor over the Docker engine's
own create-start-wait-remove of the same container (no stack: the executor
alone, as the runner calls it)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import aiodocker
from aiodocker.exceptions import DockerError

from orchest_schemas.commands import StepWork
from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import Priority
from orchest_step_runner.executor.docker import DockerExecutor, DockerOptions
from orchest_step_runner.executor.reaping import RunnerIdentity, RunnerProcess

from .harness import p50, percentile
from .report import MS, Figure

NAME = "9. docker step overhead, no-op .py"
IMAGE = "orchest/kernel-python:latest"


def step_work(root: Path, file_path: str = "noop.py") -> StepWork:
    """Work for a one-step pipeline running ``file_path`` of the project ``root``."""
    step = str(uuid.uuid4())
    definition = PipelineDefinition.model_validate(
        {"uuid": str(uuid.uuid4()), "steps": {step: {"uuid": step, "file_path": file_path}}}
    )
    return StepWork(
        run_uuid=str(uuid.uuid4()),
        step_uuid=step,
        attempt=1,
        priority=Priority.INTERACTIVE,
        definition_key=uuid.uuid4().hex,
        pipeline_definition=definition,
        project_dir=str(root),
    )


async def _through_executor(executor: DockerExecutor, root: Path, scratch: Path) -> float:
    async def discard(text: str) -> None:
        pass

    work = step_work(root)
    t0 = time.perf_counter()
    result = await executor.execute(
        work, output=discard, cancel=asyncio.Event(), scratch_dir=scratch
    )
    took = time.perf_counter() - t0
    assert result.exit_code == 0, result
    return took


async def bare_container(
    docker: aiodocker.Docker, image: str, root: Path, file: str = "noop.py"
) -> float:
    """create, start, wait, remove a container of ``image`` running
    ``/project-dir/<file>`` with ``root`` mounted there: seconds."""
    t0 = time.perf_counter()
    container = await docker.containers.create(
        {
            "Image": image,
            "Cmd": ["python", f"/project-dir/{file}"],
            "HostConfig": {"NetworkMode": "host", "Binds": [f"{root}:/project-dir"]},
        }
    )
    await container.start()
    status = await container.wait()
    await container.delete(force=True)
    took = time.perf_counter() - t0
    assert status["StatusCode"] == 0, status
    return took


def _not_measured(why: str) -> Figure:
    return Figure(NAME, f"not measured: {why}", "-", None, "-", None, "needs a Docker engine")


async def docker_step(runs: int = 30) -> Figure:
    image = os.environ.get("ORCHEST_DEFAULT_STEP_IMAGE", IMAGE)
    with tempfile.TemporaryDirectory(prefix="orchest-bench-docker-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        (root / "noop.py").write_text("pass\n")
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        async with aiodocker.Docker() as docker:
            try:
                await docker.images.inspect(image)
            except (DockerError, OSError) as exc:
                return _not_measured(f"{image} not on a Docker engine ({exc}); images/build.sh")
            me = RunnerIdentity(
                f"bench:{os.getpid()}:{uuid.uuid4().hex}",
                f"bench-{uuid.uuid4().hex}",
                RunnerProcess.current(),
            )
            options = DockerOptions(default_image=image, data_dir=Path(tmp) / "data")
            async with DockerExecutor.open(me, options) as executor:
                await _through_executor(executor, root, scratch)  # warm-up
                await bare_container(docker, image, root)
                ours, bare = [], []
                for _ in range(runs):  # interleaved: both see the same engine
                    ours.append(await _through_executor(executor, root, scratch))
                    bare.append(await bare_container(docker, image, root))
    value, floor = p50(ours), p50(bare)
    ratio = value / floor
    return Figure.bounded(
        name=NAME,
        value=(
            f"p50 {value * MS:.0f} ms, p99 {percentile(ours, 0.99) * MS:.0f} ms"
            f" ({(value - floor) * MS:+.0f} ms)"
        ),
        floor=f"bare aiodocker p50 {floor * MS:.0f} ms",
        ratio=ratio,
        at_most=1.25,
        how=(
            f"{runs} no-op `.py` steps (`pass`) through `DockerExecutor.execute` (container"
            " created with the step's limits, labels and mounts, `/pipeline.json` mounted from"
            " the attempt's scratch directory as a runner on the host does, started, its log"
            " followed, waited for, removed), after a warm-up. Floor: the"
            " bench creating, starting, waiting for and removing a container of the same"
            " image running the same file with the project mounted, through aiodocker,"
            " interleaved with ours."
        ),
    )


if __name__ == "__main__":
    from .report import table

    print(table([asyncio.run(docker_step())]))
