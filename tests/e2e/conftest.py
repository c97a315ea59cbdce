"""End-to-end fixtures: the whole stack started by the ``orchest`` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_stack import Stack, make_stack


@pytest.fixture
def stack(workdir: Path) -> Iterator[Stack]:
    """A stack on a fresh state dir, brought down after the test whatever happened."""
    s = make_stack(workdir)
    yield s
    s.orchest("down")
