"""The HTTP API fuzzed from its OpenAPI document (``fuzz_kit``): the part
``jobs``: the jobs, their runs and the schedule preview."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fuzz_kit import every_operation_survives, fuzz_stack
from runs_harness import Project, Stack


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    async with fuzz_stack(service_settings) as s:
        yield s


@pytest.mark.timeout(900)
async def test_every_operation_survives_fuzzing(stack: Stack, project: Project) -> None:
    await every_operation_survives(stack, project, "jobs")
