"""How long ``orchest up`` takes to a healthy stack, cold and warm.

cold: a new state directory (initdb, JetStream store, first migrations);
warm: the same state directory again after ``orchest down``.
Each figure is the wall time of the ``orchest up`` command, which returns
only once ``/api/health`` answers 200. Run: ``uv run python bench/startup.py``.
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def orchest(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "orchest_cli", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    down: list[float] = []
    with tempfile.TemporaryDirectory(prefix="orchest-bench-") as tmp:
        for i in range(args.repeat):
            state = str(Path(tmp) / f"state{i}")
            port = str(free_port())
            cold.append(orchest("up", "--state-dir", state, "--port", port))
            down.append(orchest("down", "--state-dir", state))
            warm.append(orchest("up", "--state-dir", state, "--port", port))
            down.append(orchest("down", "--state-dir", state))
    print(
        f"orchest up to healthy, {args.repeat} runs each, {platform.node()}, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    print("| case | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, values in (("cold", cold), ("warm", warm), ("down", down)):
        print(
            f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |"
        )


if __name__ == "__main__":
    main()
