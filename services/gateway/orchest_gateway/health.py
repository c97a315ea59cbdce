"""``GET /api/health``: every service's live instances, and the dependencies."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from nats.aio.client import Client

from orchest_schemas.bus import ALL_SERVICES
from orchest_schemas.errors import ErrorDetail
from orchest_schemas.health import DependencyHealth, HealthReport, ServiceHealth

from .discovery import discover
from .settings import GatewaySettings

logger = logging.getLogger(__name__)


async def check_postgres(pool: asyncpg.Pool, timeout: float = 2.0) -> DependencyHealth:
    try:
        async with asyncio.timeout(timeout):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return DependencyHealth(name="postgres", up=False, detail=str(exc) or type(exc).__name__)
    return DependencyHealth(name="postgres", up=True)


def check_nats(nc: Client) -> DependencyHealth:
    if nc.is_connected:
        url = nc.connected_url
        return DependencyHealth(name="nats", up=True, detail=url.netloc if url else None)
    return DependencyHealth(name="nats", up=False, detail="not connected")


async def health_report(nc: Client, pool: asyncpg.Pool, settings: GatewaySettings) -> HealthReport:
    expected = [s.value for s in ALL_SERVICES]
    nats_health = check_nats(nc)
    if nats_health.up:
        found, postgres_health = await asyncio.gather(
            discover(
                nc,
                settings.bus_prefix,
                expected,
                timeout=settings.discovery_timeout_seconds,
                quiet=settings.discovery_quiet_seconds,
            ),
            check_postgres(pool),
        )
    else:
        found, postgres_health = {}, await check_postgres(pool)
    services = [
        ServiceHealth(name=name, up=bool(found.get(name)), instances=found.get(name, []))
        for name in expected
    ]
    dependencies = [nats_health, postgres_health]
    errors = [
        ErrorDetail(loc=["services", s.name], msg="no live instance", type="unavailable")
        for s in services
        if not s.up
    ] + [
        ErrorDetail(loc=["dependencies", d.name], msg=d.detail or "down", type="unavailable")
        for d in dependencies
        if not d.up
    ]
    missing = [str(e.loc[-1]) for e in errors]
    return HealthReport(
        status="ok" if not missing else "unavailable",
        services=services,
        dependencies=dependencies,
        missing=missing,
        message="all services up" if not missing else "unavailable: " + ", ".join(missing),
        errors=errors,
    )
