"""Shared by the steps, imported as a module of the project (Orchest projects
keep such helpers beside their steps)."""

import os
import time

WAIT_SECONDS = 120


def scale(factor, offset):
    return factor * 10 + offset


def double(value):
    return 2 * value


def data_path(tag):
    return os.path.join("/data", "compat", f"{tag}.txt")


def wait_for_all(gate, count, me):
    """Say this run's first step is done, then wait until every run's is: all
    runs then hold their outputs at the same time."""
    open(os.path.join(gate, me), "w").close()
    deadline = time.monotonic() + WAIT_SECONDS
    while len(os.listdir(gate)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(gate))} of {count} runs reached the gate")
        time.sleep(0.05)  # wait-ok: the step's own work is to wait for the other runs
