"""Orchest projects on the docker executor: the scenarios of ``tests/compat``
(``compat/datapass.py``, ``compat/tour.py``), each step in a container of
``orchest/kernel-python`` (which has the SDK), ``/data`` the runner's data
directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compat.compat_kit import OrchestProject, copy_project
from compat.datapass import datapass_stack, run_datapass
from compat.tour import check_tour, run_tour
from integration.runs_harness import whole_stack
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


async def test_an_orchest_project_runs_unmodified(
    service_settings: Callable[..., Any], images: Images, tmp_path: Path
) -> None:
    """``projects/tour`` (``compat/tour.py``), each step in a container of
    ``orchest/kernel-python``: what the process executor gives, but the
    image's programs: no R kernel, no Node.js, no Julia in it."""
    tour = copy_project("tour", tmp_path)
    languages = OrchestProject(tour.root, tour.root / "languages.orchest")
    runner = docker_runner(images, tmp_path / "data")
    async with whole_stack(service_settings, runner_overrides=runner) as stack:
        outcome = await run_tour(stack, tour, languages)
    check_tour(outcome, cwd="/project-dir")
    image = images.kernel_python
    steps = outcome.languages
    assert steps["r-summary"] == {
        "status": "FAILURE",
        "error": "no Jupyter kernel for R (the notebook's kernelspec language 'R'); "
        "kernels available: python3 (Python)",
        "log": "",
    }
    missing = {
        "hello-js": f"node not found in the image {image}: install Node.js to run .js steps",
        "model-jl": f"julia not found in the image {image}: install Julia to run .jl steps",
    }
    for title, error in missing.items():
        assert (steps[title]["status"], steps[title]["error"]) == ("FAILURE", error), steps
