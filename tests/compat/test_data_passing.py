"""Data passing with the Orchest SDK on the process executor: runs of one
pipeline at once (a job's parameter sets, and an interactive run beside
them) each read their own outputs, through ``/project-dir``, ``/data`` and
``/pipeline.json`` as the SDK and Orchest projects use them (isolated), or
through the SDK's paths pointed at each run's project (unisolated)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from compat_kit import copy_project, host_paths
from datapass import datapass_stack, run_datapass
from integration.runs_harness import Stack


async def isolation_of(stack: Stack) -> str:
    health = (await stack.http.get("/api/health")).json()
    runner = next(s for s in health["services"] if s["name"] == "step-runner")
    return str(runner["instances"][0]["metadata"]["isolation"])


@pytest.mark.parametrize("isolation", ["namespace", "none"])
async def test_runs_at_once_each_pass_their_own_data(
    service_settings: Callable[..., Any], tmp_path: Path, isolation: str
) -> None:
    """Each run ends with a result made of its own parameters only: a named
    output, a notebook's unnamed output, and (isolated) a file in ``/data``
    and ``/pipeline.json``; every run SUCCESS, nothing made on the host."""
    use_data = isolation == "namespace"  # the unisolated mode has no /data
    on_host = await asyncio.to_thread(host_paths)
    gate = tmp_path / "gate"
    gate.mkdir()
    project = copy_project("datapass", tmp_path)
    runner = {"data_dir": tmp_path / "data", "isolation": isolation}
    async with datapass_stack(service_settings, runner) as stack:
        mode = await isolation_of(stack)
        assert mode.startswith("mount-namespace" if use_data else "none"), mode
        outcome = await run_datapass(stack, project, gate=str(gate), use_data=use_data)
    assert outcome.seen == outcome.wanted
    cwds = {result["cwd"] for result in outcome.seen.values()}
    if use_data:  # the step's folder in its view
        assert cwds == {"/project-dir"}
    else:
        assert str(project.root) in cwds
    # Nothing made on the host outside the test's folders.
    assert await asyncio.to_thread(host_paths) == on_host
