"""Orchest compatibility: public-Orchest-style projects (``projects/``, using
the Orchest SDK as such projects do) run unmodified on the whole stack of
``tests/integration`` (real NATS, Postgres, step runner and kernels)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECTS = Path(__file__).parent / "projects"
ORCHEST_PATHS = ("/project-dir", "/data", "/pipeline.json")


def host_paths() -> dict[str, bool]:
    """Which of the paths steps see in their views exist on the host (a step
    must create none of them there)."""
    return {path: os.path.exists(path) for path in ORCHEST_PATHS}


@dataclass(frozen=True)
class OrchestProject:
    """A copy of one of ``projects/`` (runs write into their project) and its
    pipeline file, as Orchest keeps it (``<name>.orchest``)."""

    root: Path
    pipeline_file: Path

    def definition(self, **parameters: Any) -> dict[str, Any]:
        """The pipeline definition, its pipeline parameters overridden."""
        definition: dict[str, Any] = json.loads(self.pipeline_file.read_text())
        definition["parameters"] = {**definition["parameters"], **parameters}
        return definition

    def step_uuid(self, title: str) -> str:
        steps = self.definition()["steps"].values()
        return next(str(step["uuid"]) for step in steps if step["title"] == title)


@pytest.fixture
def datapass_project(tmp_path: Path) -> OrchestProject:
    root = tmp_path / "datapass"
    shutil.copytree(PROJECTS / "datapass", root)
    return OrchestProject(root, root / "datapass.orchest")
