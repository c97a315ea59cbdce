"""Notebook steps: a real Jupyter kernel driven by nbclient (``docs/runs.md``).

The kernel is started and ended here rather than by nbclient's
``async_setup_kernel``, which installs SIGINT/SIGTERM handlers on the running
loop (and removes the service's own ones afterwards). Cells run through
``NotebookClient.async_execute_cell`` (``cells.py``: the client that forwards
stream and error outputs to the sink as each message arrives, the cells'
runner, and the kernel replaced when it dies before it is ready).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.client import KernelClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat import NotebookNode

from orchest_schemas.commands import StepWork

from .base import ExecutionResult, OutputSink
from .cells import START_SECONDS, CellRunner, NotebookKernel, StreamingNotebookClient
from .control import Stop, stop_message, wait_or_stop
from .environment import StepLaunch, build_python
from .injection import inject_parameters
from .isolation import Isolation
from .kernel import LocalKernel
from .kernel_choice import (
    USUAL_KERNELS,
    KernelChoice,
    NoKernel,
    OfferedKernel,
    choose_kernel,
    step_kernel_disagrees,
)
from .kernel_pool import KernelPool, pool_key
from .scripts import installed_specs, offered_kernels
from .streaming import GuardedSink, pump_queue
from .write_back import StepNotebook, write_back_executed

logger = logging.getLogger(__name__)

EXECUTED_NOTEBOOK = "executed.ipynb"
CONNECTION_FILE = "kernel-connection.json"
STOPPED_CELLS_WAIT_SECONDS = 1.5
"""After the kernel is killed, how long nbclient may take to notice (it checks
every second) before its task is cancelled."""


def installed_kernels() -> list[OfferedKernel]:
    """The kernelspecs of the runner's host (``scripts.installed_specs``).
    Reads the kernelspec directories."""
    return offered_kernels(installed_specs())


def kernel_for(
    work: StepWork,
    nb: NotebookNode,
    offered: Iterable[OfferedKernel],
    *,
    python_kernel: str = USUAL_KERNELS["python"],
) -> KernelChoice | ExecutionResult:
    """The kernel the notebook runs in (``kernel_choice``), or the failed
    result, before any kernel starts, when its language has none."""
    step_kernel = work.step.kernel.name
    usual = {**USUAL_KERNELS, "python": python_kernel}
    choice = choose_kernel(nb.metadata, step_kernel, offered, usual=usual)
    if isinstance(choice, NoKernel):
        return ExecutionResult(None, choice.message)
    if step_kernel_disagrees(choice, step_kernel):
        logger.warning(
            "step %s of run %s: its kernel %r is not of the notebook's language (%s): running %r",
            work.step_uuid,
            work.run_uuid,
            step_kernel,
            choice.language,
            choice.name,
        )
    return choice


async def read_notebook(path: Path, file_path: str) -> StepNotebook | ExecutionResult:
    """The notebook at ``path`` (``file_path`` in the project) and the bytes it
    was read from (the write-back compares them), or the failed result when
    it is not one."""
    try:
        content = await asyncio.to_thread(path.read_bytes)
        text = content.decode("utf-8")
        nb: NotebookNode = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except ValueError as exc:  # not UTF-8, nbformat's NotJSONError and validation errors
        return ExecutionResult(None, f"not a valid notebook: {exc}")
    return StepNotebook(path, file_path, content, nb)


async def execute_notebook(
    work: StepWork,
    launch: StepLaunch,
    *,
    isolation: Isolation,
    output: OutputSink,
    cancel: asyncio.Event,
    deadline: float | None,
    default_kernel: str,
    pool: KernelPool | None = None,
    start_seconds: float = START_SECONDS,
) -> ExecutionResult:
    """Run the notebook in a local kernel in the step's view (``isolation``):
    a warm one of ``pool`` (Python kernels), else one started for it (which
    has ``start_seconds`` to answer: ``run_notebook``); then write it back
    (``write_back``)."""
    notebook = await read_notebook(launch.file, work.step.file_path)
    if isinstance(notebook, ExecutionResult):
        return notebook
    nb = notebook.nb
    offered = await asyncio.to_thread(installed_kernels)
    choice = kernel_for(work, nb, offered, python_kernel=default_kernel)
    if isinstance(choice, ExecutionResult):
        return choice
    warm = None
    python = build_python(work) if choice.language == "python" else None
    # A warm kernel runs the default interpreter: a step of a built
    # environment starts its own kernel on that environment's python.
    if pool is not None and choice.language == "python" and python is None:
        env = isolation.step_env(launch)
        warm = await pool.take(pool_key(choice.name, work.step.environment, env))
    run = functools.partial(
        run_notebook,
        work,
        nb,
        language=choice.language,
        parameters=launch.parameters,
        output=output,
        cancel=cancel,
        deadline=deadline,
        start_seconds=start_seconds,
    )
    if warm is None:
        async with isolation.view(work, launch) as view:
            local = functools.partial(
                LocalKernel,
                choice.name,
                connection_file=launch.scratch_dir / CONNECTION_FILE,
                marker=launch.marker,
                since=launch.started,
                command_prefix=view.prefix,
                python=python,
            )
            result = await run(local(), cwd=view.launch.cwd, env=view.launch.env, another=local)
    else:
        try:
            async with isolation.fill(work, launch, warm.slot) as view:
                warm.adopt(view.launch.marker, launch.started)
                preamble = warm.preamble(view.launch.env, view.file.parent)
                result = await run(
                    warm,
                    cwd=view.launch.cwd,
                    env=view.launch.env,
                    preamble=preamble,
                    connected=warm.client,
                )
        finally:
            await warm.discard()  # when the view or the run failed before ending it
    return await write_back_executed(result, notebook, output)


async def run_notebook(
    work: StepWork,
    nb: NotebookNode,
    kernel: NotebookKernel,
    *,
    language: str,
    parameters: dict[str, Any],
    cwd: Path,
    env: dict[str, str],
    output: OutputSink,
    cancel: asyncio.Event,
    deadline: float | None,
    preamble: str | None = None,
    connected: KernelClient | None = None,
    another: Callable[[], NotebookKernel] | None = None,
    start_seconds: float = START_SECONDS,
) -> ExecutionResult:
    """Inject the parameters (Python kernels), start ``kernel``, run every cell
    in order and end the kernel; the executed notebook is the artifact.
    ``preamble``: code run silently before the first cell, and ``connected``:
    a client already connected to the kernel (a warm kernel's adoption of its
    step, and its client: ``kernel_pool``). ``another``: a new kernel like
    ``kernel``, started in its place when it dies before it is ready, or
    does not answer within ``start_seconds`` of its start (``KERNEL_STARTS``)."""
    injected = None
    if language.lower() == "python":
        injected = inject_parameters(nb, parameters)
    elif parameters:
        logger.warning(
            "step %s: parameters not injected into a %s kernel", work.step_uuid, language
        )
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    client = StreamingNotebookClient(
        nb,
        kernel.manager,
        queue.put_nowait,
        kernel_name=kernel.manager.kernel_name,
        shutdown_kernel="immediate",
    )
    # As nbclient does: IPython's history in memory, not in a shared sqlite file.
    history = f"--HistoryManager.hist_file={client.ipython_hist_file}"
    extra = [history] if kernel.manager.ipykernel else []
    sink = GuardedSink(output)

    async def start(kernel: NotebookKernel) -> None:
        await kernel.start(cwd=cwd, env=env, extra_arguments=extra, sink=sink)

    try:
        await start(kernel)
    except Exception as exc:  # a broken kernelspec: the attempt fails, the runner goes on
        await kernel.shut_down(None)
        return ExecutionResult(None, f"kernel failed to start: {exc}")
    pump = asyncio.create_task(pump_queue(queue, sink))
    runner = CellRunner(
        client,
        nb,
        kernel,
        start=start,
        sink=sink,
        another=another,
        preamble=preamble,
        connected=connected,
        start_seconds=start_seconds,
    )
    cells = asyncio.create_task(runner.run())
    stop: Stop | None = None
    try:
        stop = await wait_or_stop(cells, cancel, deadline)
        if stop is not None:
            logger.info("step %s of run %s: %s", work.step_uuid, work.run_uuid, stop.value)
            await runner.kernel.kill()
            await asyncio.wait({cells}, timeout=STOPPED_CELLS_WAIT_SECONDS)
    finally:
        try:
            error = await _finish(cells)
            await runner.kernel.shut_down(client.kc)
        finally:
            queue.put_nowait(None)
            await pump
    sink.raise_failure()
    artifacts = {EXECUTED_NOTEBOOK: _notebook_bytes(nb)}
    if stop is not None:
        return ExecutionResult(
            runner.kernel.exit_code,
            stop_message(stop, work.timeout_seconds),
            timed_out=stop is Stop.TIMED_OUT,
            aborted=stop is Stop.ABORTED,
            artifacts=artifacts,
        )
    if error is None:
        return ExecutionResult(0, None, artifacts=artifacts)
    if isinstance(error, CellExecutionError):
        where = _cell_name(runner.current_cell, injected)
        return ExecutionResult(1, f"{error.ename}: {error.evalue} ({where})", artifacts=artifacts)
    if isinstance(error, DeadKernelError) or (
        isinstance(error, RuntimeError) and "died" in str(error)
    ):
        # DeadKernelError, or "Kernel died before replying to kernel_info" at start-up.
        return ExecutionResult(runner.kernel.exit_code, "kernel died", artifacts=artifacts)
    if isinstance(error, RuntimeError) and runner.current_cell < 0:
        return ExecutionResult(runner.kernel.exit_code, f"kernel failed to start: {error}")
    raise error


async def _finish(cells: asyncio.Task[None]) -> BaseException | None:
    """End the cells task if it still runs; returns how it ended (its exception)."""
    if not cells.done():
        cells.cancel()  # nbclient turns this into a DeadKernelError
        await asyncio.wait({cells}, timeout=STOPPED_CELLS_WAIT_SECONDS)
    if not cells.done() or cells.cancelled():
        return None
    return cells.exception()


def _notebook_bytes(nb: NotebookNode) -> bytes:
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text.encode()


def _cell_name(index: int, injected: int | None) -> str:
    """``cell N``, N counting the step's own cells from 1 (the injected one aside)."""
    if injected is not None and index == injected:
        return "injected parameters"
    shift = 1 if injected is not None and index > injected else 0
    return f"cell {index + 1 - shift}"
