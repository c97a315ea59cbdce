"""The Celery application of the baseline (``bench/celery_chain.py``): one task
that runs a step file with bash, as the seed's Celery worker ran steps.

Imported by the worker the bench starts (``celery -A bench.celery_app``); the
broker and result backend come from ``ORCHEST_BENCH_REDIS_URL``.
"""

from __future__ import annotations

import os
import subprocess

from celery import Celery

REDIS_URL = os.environ.get("ORCHEST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("orchest_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.step")
def step(file: str, run_uuid: str) -> int:
    """Run ``bash file`` with the run's id in its environment, output piped."""
    env = {**os.environ, "ORCHEST_RUN_UUID": run_uuid}
    done = subprocess.run(
        ["bash", file],
        cwd=os.path.dirname(file),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return done.returncode
