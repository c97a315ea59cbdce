"""NATS: the connection every service opens, and the streams it relies on."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from orchest_schemas.bus import Retention, StreamSpec

from .errors import DependencyUnavailable

logger = logging.getLogger(__name__)

_RETENTION = {
    Retention.LIMITS: RetentionPolicy.LIMITS,
    Retention.WORK_QUEUE: RetentionPolicy.WORK_QUEUE,
}


async def connect(servers: list[str], *, name: str, connect_timeout: float = 5.0) -> Client:
    """Connect, then reconnect forever: a NATS restart only pauses the service."""

    async def on_disconnected() -> None:
        logger.warning("disconnected from NATS")

    async def on_reconnected() -> None:
        logger.info("reconnected to NATS")

    async def on_error(exc: Exception) -> None:
        logger.warning("NATS connection error: %s", exc)

    try:
        return await nats.connect(
            servers=servers,
            name=name,
            connect_timeout=connect_timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            error_cb=on_error,
        )
    except (NoServersError, OSError, TimeoutError) as exc:
        raise DependencyUnavailable(f"cannot reach NATS at {servers}: {exc}") from exc


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description or None,
        subjects=list(spec.subjects),
        retention=_RETENTION[spec.retention],
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
    )


async def ensure_streams(js: JetStreamContext, specs: tuple[StreamSpec, ...]) -> None:
    """Create each stream, or bring an existing one to its spec. Idempotent, so
    every service can call it at start-up whatever order they start in."""
    for spec in specs:
        config = stream_config(spec)
        try:
            await js.add_stream(config)
        except BadRequestError as exc:
            # 10058: a stream of that name exists with another config.
            if exc.err_code != 10058:
                raise
            await js.update_stream(config)
        logger.debug("stream %s ready", spec.name)
