"""Postgres stopped and started again mid-run: the services reconnect, the runs
finish correctly.

The supervisor does not restart its embedded Postgres, so the test runs one of
its own (``ORCHEST_DATABASE_URL``) and restarts it itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_kit import StackFactory, runs_survive

from orchest_cli.embedded import EmbeddedPostgres

pytestmark = pytest.mark.e2e


async def test_runs_finish_after_postgres_is_restarted(
    own_postgres: EmbeddedPostgres, start_stack: StackFactory, workdir: Path
) -> None:
    async def restart() -> None:
        await own_postgres.stop()  # fast shutdown: every connection is cut
        await own_postgres.start()  # same port, same data

    await runs_survive(
        start_stack,
        workdir,
        "postgres-restart",
        restart,
        ORCHEST_DATABASE_URL=own_postgres.url("orchest"),
    )
