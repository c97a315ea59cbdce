"""Orchest compatibility: public-Orchest-style projects (``projects/``, using
the Orchest SDK as such projects do) run unmodified on the whole stack of
``tests/integration`` (real NATS, Postgres, step runner and kernels). Shared
by ``tests/compat`` (the process executor) and ``tests/docker`` (the docker
executor)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def copy_project(name: str, into: Path) -> OrchestProject:
    """A copy of ``projects/<name>`` (its pipeline file ``<name>.orchest``)."""
    root = into / name
    shutil.copytree(PROJECTS / name, root)
    return OrchestProject(root, root / f"{name}.orchest")
