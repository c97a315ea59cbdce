"""Settings of the step runner (``ORCHEST_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, PositiveFloat, PositiveInt

from orchest_service.loop import EventLoopName
from orchest_service.settings import ServiceSettings


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "orchest" / "data"


class RunnerSettings(ServiceSettings):
    event_loop: EventLoopName = "asyncio"
    """CPython's loop unless ``ORCHEST_EVENT_LOOP=uvloop``: the libuv ``abort()``
    a test process once ended in is fixed (a kernel's output pipe closed
    twice), but twelve A/B pairs did not show uvloop's gain for the runner
    (``docs/performance.md``, "The step runner on uvloop, measured again")."""
    slots: int = Field(default=4, ge=1)
    """Step attempts this runner executes at once."""
    job_slots: int = Field(default=2, ge=0)
    """How many of ``slots`` job work may hold; interactive work may take them all."""
    ack_wait_seconds: PositiveFloat = 30.0
    """The lease: a runner silent this long loses its step to another runner."""
    heartbeat_seconds: PositiveFloat = 5.0
    """How often the running steps' leases are renewed (JetStream's, and the
    scheduler's, whose answer stops attempts no longer current)."""
    report_error_max_bytes: PositiveInt = 64 * 1024
    """A report's error is cut to this (and to a quarter of NATS's
    ``max_payload``), with a marker; the whole text is in the step's log."""
    claim_timeout_seconds: PositiveFloat = 5.0
    """How long a claim, a heartbeat or a report's request waits for the
    scheduler's answer (a report not answered is asked again, and after three
    tries goes to the ``REPORTS`` stream)."""
    log_flush_seconds: PositiveFloat = 0.05
    """Output is published at most this long after it was written."""
    executor: Literal["process", "docker"] = "process"
    """How steps run: ``process`` (local subprocesses and kernels) or ``docker``
    (a container per attempt; see ``docs/runs.md``)."""
    kill_grace_seconds: PositiveFloat = 1.0
    """On abort or timeout: SIGTERM, then SIGKILL after this long."""
    kernel_start_seconds: PositiveFloat = 30.0
    """How long a notebook step's kernel, once started (its process, or its
    container), may take to answer its first request. One that does not is
    ended and another started, as for one that dies before it is ready (at
    most three kernels an attempt); when none answers, the attempt fails
    saying so. Both executors."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """The stack's data directory, every step's ``/data`` (Orchest's shared
    data directory); ``orchest up`` sets ``<state>/data``."""
    isolation: Literal["auto", "namespace", "none"] = "auto"
    """The process executor's step views (``executor/isolation.py``): ``auto``
    a mount namespace per step where the machine allows one, else unisolated
    (said in the log and in ``/api/health``); ``namespace`` refuses to start
    without one; ``none`` always unisolated."""

    kernel_pool_size: int = Field(default=2, ge=0)
    """The process executor's warm kernels (``executor/kernel_pool.py``):
    ready Python kernels kept per (kernelspec, environment) once a notebook
    step asked for one; each step takes a fresh one. ``0``: every notebook
    step starts its own kernel."""
    kernel_pool_idle_seconds: PositiveFloat = 600.0
    """A (kernelspec, environment) no notebook step asked for this long has
    its warm kernels ended."""
    kernel_pool_memory: ByteSize = ByteSize(1024**3)
    """No warm kernel is started while the warm kernels' resident memory,
    with one more like the largest of them, would exceed this."""

    # -- the docker executor ---------------------------------------------------------
    docker_url: str | None = None
    """The Docker engine (``unix:///var/run/docker.sock``, ``tcp://127.0.0.1:2375``);
    ``None``: ``DOCKER_HOST``, else the local socket."""
    docker_connect_timeout_seconds: PositiveFloat = 5.0
    """How long the engine may take to accept a connection."""
    docker_api_timeout_seconds: PositiveFloat = 30.0
    """How long the engine may take to answer one request (create, copy, start,
    kill, inspect, remove; a stop gets its grace on top). An attempt whose
    request is not answered in time fails, saying so. A step's exit and its
    log have no such limit: they last as long as the step (its own timeout)."""
    default_step_image: str = "orchest/kernel-python:latest"
    """The image of a step whose environment ``environment_images`` does not name."""
    environment_images: dict[str, str] = Field(default_factory=dict)
    """Environment uuid to image (``ORCHEST_ENVIRONMENT_IMAGES`` is JSON:
    ``{"<uuid>": "my/image:tag"}``): a step runs in its environment's image."""
    docker_user: str | None = None
    """``uid:gid`` (or a user of the image) steps run as; ``None``: the owner of
    the project directory (steps write its files)."""
    docker_step_memory: ByteSize = ByteSize(4 * 1024**3)
    """Memory limit of each step container (no swap beyond it)."""
    docker_step_cpus: PositiveFloat = 2.0
    docker_step_pids_limit: PositiveInt = 1024
    """Processes (and threads) per step container."""
    docker_data_dir: Path | None = None
    """Mounted at ``/data`` in every step container; ``None``: ``data_dir``."""
    docker_copy_files: bool | None = None
    """Copy an attempt's files (``/pipeline.json``, ``/kernel.json``) into its
    container rather than bind-mount them from the runner's scratch directory;
    ``None``: when the runner itself runs in a container (its ``/tmp`` is not
    the host's)."""
