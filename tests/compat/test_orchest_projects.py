"""An Orchest project (``projects/tour``) run unmodified on the process
executor, isolated (the default): every step type, the SDK's data passing,
parameters, env variables, ``/data``, a helper module, the executed notebook
written back after the interactive run (not after the job's), and the steps
of other languages: run when their program or kernel is installed, failing
at once naming what is missing when not (``tour.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compat_kit import OrchestProject, copy_project
from integration.runs_harness import whole_stack
from jupyter_client.kernelspec import KernelSpecManager
from tour import check_tour, run_tour


def r_kernel_installed() -> bool:
    specs = KernelSpecManager().get_all_specs()
    return any(s["spec"].get("language", "").lower() == "r" for s in specs.values())


async def test_an_orchest_project_runs_unmodified(
    service_settings: Callable[..., Any], tmp_path: Path
) -> None:
    tour = copy_project("tour", tmp_path)
    languages = OrchestProject(tour.root, tour.root / "languages.orchest")
    runner = {"data_dir": tmp_path / "data", "isolation": "namespace"}
    async with whole_stack(service_settings, runner_overrides=runner) as stack:
        outcome = await run_tour(stack, tour, languages)
    check_tour(outcome, cwd="/project-dir")
    pipeline = "4f8e2d63-9b5c-4a1f-87e3-0d2b6f8a4c31"
    steps = outcome.languages
    if r_kernel_installed():
        assert steps["r-summary"]["status"] == "SUCCESS", steps["r-summary"]
        assert steps["r-summary"]["log"] == "R total 6"
    else:
        assert steps["r-summary"]["status"] == "FAILURE"
        assert steps["r-summary"]["error"].startswith(
            "no Jupyter kernel for R (the notebook's kernelspec language 'R'); kernels available: "
        )
        assert steps["r-summary"]["log"] == ""
    if shutil.which("node"):
        assert steps["hello-js"] == {"status": "SUCCESS", "error": None, "log": f"node: {pipeline}"}
    else:
        assert steps["hello-js"]["error"] == "node not found: install Node.js to run .js steps"
    if shutil.which("julia"):
        assert steps["model-jl"] == {
            "status": "SUCCESS",
            "error": None,
            "log": f"julia: {pipeline}",
        }
    else:
        assert steps["model-jl"] == {
            "status": "FAILURE",
            "error": "julia not found: install Julia to run .jl steps",
            "log": "",
        }
