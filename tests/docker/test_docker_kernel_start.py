"""A notebook's kernel in its step container that never answers, against the
real dockerd and the real kernel image.

The way it happens for real: another program of the host takes the kernel's
IOPub port between the port's choice and the kernel's bind. ipykernel then
prints "Address already in use" and never exits (its exit waits for the
IOPub socket it never closes): the container runs, the kernel answers
nothing. Here a listener takes that port just before the kernel's container
is created (the connection file is read from the runner's scratch folder):
the kernel is ended after ``kernel_start_seconds`` and another started, up
to ``KERNEL_STARTS`` in all.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiodocker
import pytest
from step_files import Output
from test_docker_executor import Steps, labelled, opened

from orchest_service.docker import Container
from orchest_step_runner.executor import ExecutionResult
from orchest_step_runner.executor.cells import KERNEL_STARTS
from orchest_step_runner.executor.container_kernel import KERNEL_CONNECTION_PATH
from orchest_step_runner.executor.docker import DockerExecutor
from orchest_step_runner.executor.reaping import LABEL_RUN
from orchest_step_runner.executor.step_container import Launch

if TYPE_CHECKING:
    from conftest import Images

pytestmark = pytest.mark.timeout(2100)  # the first test may wait for images/build.sh

START_BUDGET = 20.0
"""What a container kernel's creation, start and ending may take here, on top
of the deadline, under the load of a whole test run."""


class IOPubThief:
    """Takes the IOPub port of the first ``kernels`` kernel containers the
    executor creates: a listener bound to it just before the create."""

    def __init__(self, kernels: int) -> None:
        self.kernels = kernels
        self.listeners: list[socket.socket] = []

    def take(self, launch: Launch) -> None:
        source = launch.files.get(KERNEL_CONNECTION_PATH)
        if source is None or len(self.listeners) >= self.kernels:
            return
        port = json.loads(Path(source).read_text())["iopub_port"]
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        self.listeners.append(listener)

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


@pytest.fixture
def steps(tmp_path: Path) -> Steps:
    return Steps(tmp_path)


@pytest.fixture
def iopub_thief(monkeypatch: pytest.MonkeyPatch) -> Iterator[IOPubThief]:
    """An ``IOPubThief`` of the first kernel; a test sets ``kernels`` to more."""
    thief = IOPubThief(1)
    create = DockerExecutor.create

    async def taking(
        self: DockerExecutor, launch: Launch, command: list[str]
    ) -> Container | ExecutionResult:
        thief.take(launch)
        return await create(self, launch, command)

    monkeypatch.setattr(DockerExecutor, "create", taking)
    try:
        yield thief
    finally:
        thief.close()


@dataclass(frozen=True)
class Ran:
    result: ExecutionResult
    output: Output
    seconds: float
    """From the executor's open to its close (its containers' removal awaited)."""
    left: list[dict[str, Any]]
    """The run's containers after."""


async def run_one_cell(images: Images, steps: Steps, source: str, deadline: float) -> Ran:
    """A one-cell notebook step on a docker executor whose kernels have
    ``deadline`` to answer."""
    work = steps.work(steps.notebook("nb.ipynb", (source, [])))
    t0 = time.perf_counter()
    async with opened(images, steps, kernel_start_seconds=deadline) as executor:
        result, output = await steps.run(executor, work)
    seconds = time.perf_counter() - t0
    async with aiodocker.Docker() as engine:
        left = await labelled(engine, f"{LABEL_RUN}={work.run_uuid}")
    return Ran(result, output, seconds, left)


async def test_a_kernel_that_never_answers_is_replaced_and_the_step_succeeds(
    images: Images, steps: Steps, iopub_thief: IOPubThief
) -> None:
    deadline = 15.0
    ran = await run_one_cell(images, steps, "print('answer', 6 * 7)", deadline)
    result, output = ran.result, ran.output

    assert result.error is None and result.exit_code == 0, output.text
    assert "answer 42" in output.text
    assert len(iopub_thief.listeners) == 1
    # The first kernel's own output (the container's log) says why it hangs.
    assert "Address already in use" in output.text
    assert (
        f"The kernel did not answer within {deadline:g}s of its start:"
        f" ended it, starting another (2 of {KERNEL_STARTS})." in output.text
    )
    assert ran.seconds < deadline + 2 * START_BUDGET, ran.seconds
    assert ran.left == []


async def test_kernels_that_never_answer_fail_the_step_quickly_saying_so(
    images: Images, steps: Steps, iopub_thief: IOPubThief
) -> None:
    deadline = 3.0
    iopub_thief.kernels = KERNEL_STARTS
    ran = await run_one_cell(images, steps, "print('never')", deadline)
    result, output = ran.result, ran.output

    assert result.error == (
        f"kernel failed to start: none of {KERNEL_STARTS} kernels answered within"
        f" {deadline:g}s of its start (their output is in the step's log)"
    ), output.text
    assert "never" not in output.text
    assert len(iopub_thief.listeners) == KERNEL_STARTS
    assert output.text.count("Address already in use") == KERNEL_STARTS
    assert ran.seconds < KERNEL_STARTS * (deadline + START_BUDGET), ran.seconds
    assert ran.left == []
