"""Settings of the step runner (``ORCHEST_*``)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from orchest_runtime.settings import ServiceSettings


class RunnerSettings(ServiceSettings):
    slots: int = Field(default=4, ge=1)
    """Step attempts this runner executes at once."""
    job_slots: int = Field(default=2, ge=0)
    """How many of ``slots`` job work may hold; interactive work may take them all."""
    ack_wait_seconds: PositiveFloat = 30.0
    """The lease: a runner silent this long loses its step to another runner."""
    heartbeat_seconds: PositiveFloat = 5.0
    """How often a running step's lease is renewed."""
    claim_timeout_seconds: PositiveFloat = 5.0
    log_flush_seconds: PositiveFloat = 0.05
    """Output is published at most this long after it was written."""
