"""The embedded NATS and Postgres servers, from their PyPI wheels.

Both listen on loopback only and keep their data under a directory given to
them, so a second start on the same directory finds the data again. Each is
an async context manager: ``async with EmbeddedNats(...) as nats: nats.url``.
The test fixtures use these same classes.

The servers live in ``nats_server`` and ``postgres_server``, what they share
in ``embedded_server``; this module names them all in one place.
"""

from __future__ import annotations

from .embedded_server import LOOPBACK, EmbeddedServer, free_port
from .nats_server import (
    SERVICES_USER,
    UI_USER,
    EmbeddedNats,
    NatsUsers,
    nats_config,
    nats_server_binary,
    write_private,
)
from .postgres_server import POSTGRES_SYSTEM_USER, EmbeddedPostgres

__all__ = [
    "LOOPBACK",
    "POSTGRES_SYSTEM_USER",
    "SERVICES_USER",
    "UI_USER",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "EmbeddedServer",
    "NatsUsers",
    "free_port",
    "nats_config",
    "nats_server_binary",
    "write_private",
]
