"""The gateway alone, with the session manager's table (its migrations
applied, no session manager running), and a stand-in that answers the
session commands the way the session manager does, on that table, so the
HTTP API and the CLI are tested without Jupyter."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from orchest_gateway.service import build_definition as build_gateway
from orchest_gateway.session_reads import get_session
from orchest_gateway.settings import GatewaySettings
from orchest_schemas.bus import HEADER_SERVICE_ERROR, HEADER_SERVICE_ERROR_CODE, BusNames
from orchest_schemas.errors import ErrorCode, ErrorReply
from orchest_schemas.events import SessionStatusChanged
from orchest_service.database import apply_migrations
from support import free_port, running_service

SESSION_MIGRATIONS = "orchest_session_manager.migrations"


@dataclass
class Gateway:
    http: httpx.AsyncClient
    bus: BusNames
    nc: Client
    pool: asyncpg.Pool
    url: str

    async def insert(
        self,
        project_uuid: str,
        pipeline_uuid: str,
        status: str,
        *,
        created: datetime | None = None,
        reason: str | None = None,
        jupyter_url: str | None = None,
        jupyter_token: str | None = None,
        eg_url: str | None = None,
        details: dict[str, Any] | None = None,
        runtime: str = "process",
    ) -> str:
        """A row of ``session_manager.sessions``, as the session manager writes it."""
        session_uuid = str(uuid.uuid4())
        await self.pool.execute(
            "INSERT INTO session_manager.sessions (uuid, project_uuid, pipeline_uuid,"
            " project_dir, pipeline_path, runtime, status, reason, jupyter_url, jupyter_token,"
            " eg_url, details, created_time, updated_time)"
            " VALUES ($1, $2, $3, '/projects/p', 'p.orchest', $4, $5, $6, $7, $8, $9,"
            " $10::jsonb, coalesce($11, now()), coalesce($11, now()))",
            session_uuid,
            project_uuid,
            pipeline_uuid,
            runtime,
            status,
            reason,
            jupyter_url,
            jupyter_token,
            eg_url,
            json.dumps(details or {}),
            created,
        )
        return session_uuid

    async def move(
        self,
        session_uuid: str,
        status: str,
        *,
        publish: bool = True,
        reason: str | None = None,
        jupyter_url: str | None = None,
        jupyter_token: str | None = None,
    ) -> None:
        """Change a session's row, then (unless told not to) announce it, in
        the session manager's order."""
        row = await self.pool.fetchrow(
            "UPDATE session_manager.sessions SET status = $2, reason = $3,"
            " jupyter_url = coalesce($4, jupyter_url),"
            " jupyter_token = coalesce($5, jupyter_token), updated_time = now()"
            " WHERE uuid = $1 RETURNING project_uuid, pipeline_uuid",
            session_uuid,
            status,
            reason,
            jupyter_url,
            jupyter_token,
        )
        assert row is not None
        if publish:
            await self.publish(row["project_uuid"], row["pipeline_uuid"], status, reason)

    async def publish(
        self, project_uuid: str, pipeline_uuid: str, status: str, reason: str | None = None
    ) -> None:
        event = SessionStatusChanged(
            project_uuid=project_uuid, pipeline_uuid=pipeline_uuid, status=status, reason=reason
        )
        await self.nc.jetstream().publish(
            self.bus.session_event(project_uuid, pipeline_uuid), event.to_bytes()
        )


@asynccontextmanager
async def gateway_alone(
    service_settings: Callable[..., Any], *, migrate: bool = True, **overrides: Any
) -> AsyncIterator[Gateway]:
    """The gateway; with ``migrate``, the session manager's table made first."""
    settings: GatewaySettings = service_settings(GatewaySettings, port=free_port(), **overrides)
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        if migrate:
            await apply_migrations(pool, "session_manager", SESSION_MIGRATIONS)
        await stack.enter_async_context(running_service(build_gateway(settings), settings))
        url = f"http://127.0.0.1:{settings.port}"
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30.0))
        nc = await nats.connect(settings.nats_url)
        stack.push_async_callback(nc.drain)
        yield Gateway(http, settings.bus, nc, pool, url)


@dataclass
class StandIn:
    """Answers launch, stop and restart on the table as the session manager
    does (without running anything); the test moves sessions on from there."""

    gateway: Gateway
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def start(self) -> None:
        bus, nc = self.gateway.bus, self.gateway.nc
        await nc.subscribe(bus.launch_session, cb=self._launch)
        await nc.subscribe(bus.stop_session, cb=self._stop)
        await nc.subscribe(bus.restart_session, cb=self._restart)
        await nc.flush()

    async def _live(self, command: dict[str, Any]) -> str | None:
        found: str | None = await self.gateway.pool.fetchval(
            "SELECT uuid::text FROM session_manager.sessions WHERE project_uuid = $1"
            " AND pipeline_uuid = $2 AND status IN ('LAUNCHING', 'RUNNING', 'STOPPING')",
            command["project_uuid"],
            command["pipeline_uuid"],
        )
        return found

    async def _reply(self, msg: Msg, command: dict[str, Any]) -> None:
        view = await get_session(
            self.gateway.pool, command["project_uuid"], command["pipeline_uuid"]
        )
        assert view is not None
        await msg.respond(view.model_dump_json().encode())

    async def _refuse(self, msg: Msg, code: ErrorCode, message: str) -> None:
        reply = ErrorReply(code=code, message=message)
        headers = {HEADER_SERVICE_ERROR: message, HEADER_SERVICE_ERROR_CODE: str(code.http_status)}
        await self.gateway.nc.publish(msg.reply, reply.to_bytes(), headers=headers)

    async def _launch(self, msg: Msg) -> None:
        command = json.loads(msg.data)
        self.commands.append(("launch", command))
        if await self._live(command) is not None:
            await self._refuse(msg, ErrorCode.CONFLICT, "already has a live session")
            return
        await self.gateway.insert(
            command["project_uuid"],
            command["pipeline_uuid"],
            "LAUNCHING",
            runtime=command.get("runtime") or "process",
        )
        await self.gateway.publish(command["project_uuid"], command["pipeline_uuid"], "LAUNCHING")
        await self._reply(msg, command)

    async def _stop(self, msg: Msg) -> None:
        command = json.loads(msg.data)
        self.commands.append(("stop", command))
        live = await self._live(command)
        if live is None:
            await self._refuse(msg, ErrorCode.NOT_FOUND, "no live session")
            return
        await self.gateway.move(live, "STOPPING")
        await self._reply(msg, command)

    async def _restart(self, msg: Msg) -> None:
        command = json.loads(msg.data)
        self.commands.append(("restart", command))
        live = await self._live(command)
        if live is None:
            await self._refuse(msg, ErrorCode.NOT_FOUND, "no live session")
            return
        view = await get_session(
            self.gateway.pool, command["project_uuid"], command["pipeline_uuid"]
        )
        if view is None or view.status != "RUNNING":
            await self._refuse(msg, ErrorCode.CONFLICT, "only a running session restarts")
            return
        await self.gateway.move(live, "LAUNCHING")
        await self._reply(msg, command)
