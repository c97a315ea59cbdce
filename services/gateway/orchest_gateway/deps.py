"""What the handlers use, kept on ``app.state.deps``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore
from starlette.requests import Request

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import CreateRun
from orchest_service.broker import ensure_object_store

from .body import Accepted
from .fanout import EventFeed
from .settings import GatewaySettings


@dataclass
class GatewayDeps:
    settings: GatewaySettings
    nc: Client
    js: JetStreamContext
    pool: asyncpg.Pool
    version: str
    feed: EventFeed | None = None
    """The live events, fanned out to event-stream connections."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the gateway stops: the long-lived answers are cut
    (``long_lived.py``)."""
    accepted_runs: Accepted[CreateRun] = field(default_factory=lambda: Accepted(CreateRun))
    """``POST /api/runs`` bodies accepted lately (``body.Accepted``)."""
    _artifacts: ObjectStore | None = field(default=None, repr=False)

    @property
    def bus(self) -> BusNames:
        return self.settings.bus

    async def artifacts(self) -> ObjectStore:
        if self._artifacts is None:
            self._artifacts = await ensure_object_store(
                self.js, self.bus.artifacts_bucket, self.settings.artifacts_ttl_seconds
            )
        return self._artifacts


def deps_of(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps
