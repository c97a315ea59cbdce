"""NATS: the connection every service opens, and the streams it relies on."""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError
from nats.js.object_store import ObjectStore

from orchest_schemas.bus import HEADER_MSG_ID, Retention, StreamSpec
from orchest_schemas.events import Event

from .errors import TRANSIENT_ERRORS, DependencyUnavailable

logger = logging.getLogger(__name__)

_RETENTION = {
    Retention.LIMITS: RetentionPolicy.LIMITS,
    Retention.WORK_QUEUE: RetentionPolicy.WORK_QUEUE,
}


class ServerPool(NamedTuple):
    """Server URLs without credentials, and the credentials they carried."""

    servers: list[str]
    user: str | None
    password: str | None


def server_pool(servers: list[str]) -> ServerPool:
    """Take the ``user:password@`` out of the URLs (percent-decoded).

    The credentials go to the server as the connection's own, so they also
    hold for the cluster's other servers, and no URL that is logged shows them.
    """
    bare: list[str] = []
    user: str | None = None
    password: str | None = None
    for url in servers:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        if parts.username is not None and user is None:
            user = unquote(parts.username)
            password = unquote(parts.password or "")
        host = parts.netloc.rpartition("@")[2]
        bare.append(urlunsplit(parts._replace(netloc=host)))
    return ServerPool(bare, user, password)


async def connect(servers: list[str], *, name: str, wait_seconds: float = 30.0) -> Client:
    """Connect within ``wait_seconds``, then reconnect forever.

    A NATS restart only pauses a running service; a NATS that is not there at
    start-up makes it exit (``DependencyUnavailable``) so that its supervisor
    restarts it with backoff and the failure shows. Credentials come in the
    URLs (``ServiceSettings.nats_servers``); a server that refuses them makes
    it exit the same way.
    """

    client = Client()
    pool = server_pool(servers)

    async def on_disconnected() -> None:
        if not (client.is_closed or client.is_draining):
            logger.warning("disconnected from NATS")

    async def on_reconnected() -> None:
        logger.info("reconnected to NATS")

    async def on_error(exc: Exception) -> None:
        logger.warning("NATS connection error: %s", exc)

    try:
        async with asyncio.timeout(wait_seconds):
            await client.connect(
                servers=pool.servers,
                name=name,
                connect_timeout=max(1, min(5, int(wait_seconds))),
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # a float works; typed int
                allow_reconnect=True,
                drain_timeout=5,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                error_cb=on_error,
                user=pool.user,
                password=pool.password,
            )
            return client
    except (NoServersError, OSError, TimeoutError) as exc:
        raise DependencyUnavailable(
            f"cannot reach NATS at {', '.join(pool.servers)} within {wait_seconds:.0f}s"
        ) from exc


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


async def ensure_object_store(js: JetStreamContext, bucket: str, ttl_seconds: float) -> ObjectStore:
    """Create the object store bucket, or bind to it if it exists."""
    try:
        return await js.create_object_store(
            bucket, config=ObjectStoreConfig(storage=StorageType.FILE, ttl=ttl_seconds)
        )
    except BadRequestError:
        return await js.object_store(bucket)


async def publish_told(js: JetStreamContext, subject: str, event: Event, what: str) -> None:
    """Publish a status event after its write (``Nats-Msg-Id``: its id). The
    table is the truth: an event NATS does not take now is logged and
    dropped (the next change tells the current state)."""
    try:
        await js.publish(subject, event.to_bytes(), headers={HEADER_MSG_ID: event.event_id})
    except TRANSIENT_ERRORS as exc:
        logger.warning("%s: event not published: %s", what, exc)
