"""Fixtures of the integration tier (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fuzz_kit import fuzz_whole_stack
from runs_harness import Project, Stack, whole_stack


@pytest.fixture
async def stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """The whole stack with the default settings, stopped after the test."""
    async with whole_stack(service_settings) as s:
        yield s


@pytest.fixture
async def fresh_stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """``stack``, for a test of a module whose ``stack`` is ``module_stack``
    that must have one of its own (it reads whole tables or folders)."""
    async with whole_stack(service_settings) as s:
        yield s


@pytest.fixture(scope="module")
async def module_stack(module_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """The whole stack with the default settings, shared by a module's tests
    (see ``module_settings``), stopped after the last."""
    async with whole_stack(module_settings) as s:
        yield s


@pytest.fixture
async def fuzz_stack(service_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """The whole stack the API fuzz runs on (``fuzz_kit``)."""
    async with fuzz_whole_stack(service_settings) as s:
        yield s


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project folder with a pipeline definition to fill."""
    root = tmp_path / "project"
    root.mkdir()
    return Project(root)
