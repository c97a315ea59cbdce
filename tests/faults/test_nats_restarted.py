"""NATS killed (kill -9) and started again on its store mid-run: the services
reconnect, what was in JetStream is still there, the runs finish correctly.

The supervisor restarts services, not its embedded NATS, so the test runs a
nats-server of its own (``ORCHEST_NATS_URL``) and restarts it itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from fault_kit import StackFactory, runs_survive

from orchest_cli.embedded import EmbeddedNats

pytestmark = pytest.mark.e2e


async def test_runs_finish_after_nats_is_killed_and_restarted(
    own_nats: EmbeddedNats, start_stack: StackFactory, workdir: Path
) -> None:
    async def restart() -> None:
        os.kill(own_nats.pid, signal.SIGKILL)
        await own_nats.stop()  # reaps it
        await own_nats.start()  # same port, same store

    await runs_survive(start_stack, workdir, "nats-restart", restart, ORCHEST_NATS_URL=own_nats.url)
