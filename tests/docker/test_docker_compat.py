"""Data passing with the Orchest SDK on the docker executor: the scenario of
``tests/compat`` (``compat/datapass.py``), each step in a container of
``orchest/kernel-python`` (which has the SDK), ``/data`` the runner's data
directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compat.compat_kit import copy_project
from compat.datapass import datapass_stack, run_datapass
from test_docker_executor import docker_runner

if TYPE_CHECKING:
    from conftest import Images


async def test_runs_at_once_each_pass_their_own_data(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "gate").mkdir(parents=True)
    project = copy_project("datapass", tmp_path)
    async with datapass_stack(service_settings, docker_runner(images, data_dir)) as stack:
        outcome = await run_datapass(stack, project, gate="/data/gate", use_data=True)
    assert outcome.seen == outcome.wanted
    assert {result["cwd"] for result in outcome.seen.values()} == {"/project-dir"}
