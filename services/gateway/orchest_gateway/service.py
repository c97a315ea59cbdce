"""The gateway as a service: reads Postgres, owns no table, serves HTTP."""

from __future__ import annotations

from importlib.metadata import version

from orchest_schemas.bus import ServiceName
from orchest_service.service import ServiceContext, ServiceDefinition

from .server import serve_http
from .settings import GatewaySettings

DISTRIBUTION = "orchest-gateway"


def build_definition(settings: GatewaySettings) -> ServiceDefinition:
    async def serve(ctx: ServiceContext) -> None:
        await serve_http(ctx, settings, version(DISTRIBUTION))

    return ServiceDefinition(
        name=ServiceName.GATEWAY,
        distribution=DISTRIBUTION,
        description="HTTP API of Orchest; relays commands to their owners, events to clients.",
        uses_database=True,
        serve=serve,
    )
