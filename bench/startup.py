"""Figure 7: `orchest up` to healthy, cold and warm, against the embedded NATS
and Postgres started alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import p50
from .report import Figure


def timed_cli(config: Path, *args: str) -> float:
    """Seconds ``orchest *args`` took; with its own configuration folder, so
    that the user's ``orchest`` does not remember the bench's stacks."""
    env = {**os.environ, "ORCHEST_CONFIG_DIR": str(config)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "orchest_cli", *args], check=True, capture_output=True, env=env
    )
    return time.perf_counter() - t0


async def embedded_servers_start(root: Path) -> float:
    from orchest_cli.embedded import EmbeddedNats, EmbeddedPostgres

    t0 = time.perf_counter()
    nats_server = EmbeddedNats(root / "nats", root / "nats.log")
    postgres = EmbeddedPostgres(root / "pg", root / "pg.log")
    await asyncio.gather(nats_server.start(), postgres.start())
    elapsed = time.perf_counter() - t0
    await postgres.stop()
    await nats_server.stop()
    return elapsed


async def startup(runs: int = 3) -> list[Figure]:
    from orchest_cli.embedded import free_port

    cold, warm, floor_cold, floor_warm = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="orchest-bench-startup-") as tmp:
        config = Path(tmp) / "config"
        for i in range(runs):
            state = str(Path(tmp) / f"state{i}")
            port = str(free_port())
            cold.append(
                await asyncio.to_thread(
                    timed_cli, config, "up", "--state-dir", state, "--port", port
                )
            )
            await asyncio.to_thread(timed_cli, config, "down", "--state-dir", state)
            warm.append(
                await asyncio.to_thread(
                    timed_cli, config, "up", "--state-dir", state, "--port", port
                )
            )
            await asyncio.to_thread(timed_cli, config, "down", "--state-dir", state)
            servers = Path(tmp) / f"servers{i}"
            floor_cold.append(await embedded_servers_start(servers))
            floor_warm.append(await embedded_servers_start(servers))
    figures = []
    for label, values, floors in (("cold", cold, floor_cold), ("warm", warm, floor_warm)):
        value, floor = p50(values), p50(floors)
        figures.append(
            Figure(
                name=f"7. start-up to healthy, {label}",
                value=f"{value:.2f} s (max {max(values):.2f} s)",
                floor=f"NATS + Postgres alone {floor:.2f} s",
                ratio=value / floor,
                target="a few seconds",
                met=value < 5.0,
                how=(
                    f"`orchest up` on a {'new' if label == 'cold' else 'used'} state directory"
                    " until it returns (it returns once `/api/health` is 200), median of"
                    f" {runs}. Floor: starting the embedded NATS and Postgres alone, together,"
                    " on a directory in the same state."
                ),
            )
        )
    return figures
