"""Fault-suite fixtures: the stack as ``tests/e2e`` starts it (``orchest up`` on
a fresh state dir), with the environment and runner count a scenario needs,
and NATS or Postgres started by the test where the test must restart them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e_stack import Stack, make_stack
from fault_kit import StackFactory

from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres


@pytest.fixture
def start_stack(workdir: Path) -> Iterator[StackFactory]:
    """``start_stack(runners=1, **env)``: a stack up on a fresh state dir, brought
    down after the test whatever happened."""
    stacks: list[Stack] = []

    def start(runners: int = 1, **env: str) -> Stack:
        stack = make_stack(workdir, **env)
        stacks.append(stack)
        result = stack.orchest("up", "--port", str(stack.port), "--runners", str(runners))
        assert result.returncode == 0, result.stdout + result.stderr + stack.logs()
        return stack

    yield start
    for stack in stacks:
        stack.orchest("down")


@pytest.fixture
async def own_nats(workdir: Path) -> AsyncIterator[EmbeddedNats]:
    """A nats-server of the test's own (the supervisor does not restart its
    embedded one). A test names it before ``start_stack``: fixtures are torn
    down in the reverse order, so the stack stops while its NATS still runs
    (a stack stopped without its NATS had in-flight work to give up on)."""
    server = EmbeddedNats(workdir / "own-nats", workdir / "own-nats.log")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def own_postgres(workdir: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A Postgres of the test's own with an ``orchest`` database (as
    ``own_nats``, named before ``start_stack``)."""
    server = EmbeddedPostgres(workdir / "own-postgres", workdir / "own-postgres.log")
    await server.start()
    await server.create_database("orchest")
    yield server
    await server.stop()
