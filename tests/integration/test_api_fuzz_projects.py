"""The HTTP API fuzzed from its OpenAPI document (``fuzz_kit``): the part
``projects``: the projects, their pipelines and files, and the sessions."""

from __future__ import annotations

import pytest
from fuzz_kit import every_operation_survives
from runs_harness import Project, Stack


@pytest.mark.timeout(900)
async def test_every_operation_survives_fuzzing(fuzz_stack: Stack, project: Project) -> None:
    await every_operation_survives(fuzz_stack, project, "projects")
