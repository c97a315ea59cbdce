"""The gateway against real NATS and Postgres, served by uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from orchest_gateway.service import build_definition
from orchest_gateway.settings import GatewaySettings
from orchest_scheduler.service import build_definition as build_scheduler
from orchest_schemas.bus import BusNames
from orchest_schemas.health import HealthReport
from orchest_session_manager.service import DEFINITION as SESSION_MANAGER
from orchest_step_runner.service import build_definition as build_runner
from orchest_step_runner.settings import RunnerSettings
from support import free_port

SCHEDULER = build_scheduler()  # used by one test at a time
STEP_RUNNER = build_runner(RunnerSettings())


@pytest.fixture
def gateway_settings(service_settings: Callable[..., Any]) -> GatewaySettings:
    settings: GatewaySettings = service_settings(GatewaySettings, port=free_port())
    return settings


async def fetch(method: str, target: str) -> httpx.Response:
    # Async: the gateway runs in this test's event loop.
    async with httpx.AsyncClient() as client:
        return await client.request(method, target)


def url(settings: GatewaySettings, path: str) -> str:
    return f"http://{settings.host}:{settings.port}{path}"


async def test_health_is_503_naming_the_missing_services(
    gateway_settings: GatewaySettings, service_runner: Any
) -> None:
    async with (
        service_runner(build_definition(gateway_settings), gateway_settings),
        service_runner(STEP_RUNNER, gateway_settings),
    ):
        response = await fetch("GET", url(gateway_settings, "/api/health"))

    assert response.status_code == 503
    report = HealthReport.model_validate_json(response.content)
    assert report.missing == ["scheduler", "session-manager"]
    assert "scheduler" in report.message and "session-manager" in report.message
    assert [e.loc for e in report.errors] == [
        ["services", "scheduler"],
        ["services", "session-manager"],
    ]
    up = {s.name: s.up for s in report.services}
    assert up == {
        "gateway": True,
        "scheduler": False,
        "step-runner": True,
        "session-manager": False,
    }
    assert {d.name: d.up for d in report.dependencies} == {"nats": True, "postgres": True}


async def test_health_is_200_with_every_instance_and_version(
    gateway_settings: GatewaySettings, service_runner: Any
) -> None:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            service_runner(build_definition(gateway_settings), gateway_settings)
        )
        for definition in (SCHEDULER, STEP_RUNNER, SESSION_MANAGER):
            await stack.enter_async_context(service_runner(definition, gateway_settings))
        # A second step runner: replicas are listed, not merged.
        await stack.enter_async_context(service_runner(STEP_RUNNER, gateway_settings))
        async with httpx.AsyncClient() as client:
            response = await client.get(url(gateway_settings, "/api/health"))

    assert response.status_code == 200, response.text
    report = HealthReport.model_validate_json(response.content)
    assert report.status == "ok" and report.missing == [] and report.errors == []
    counts = {s.name: len(s.instances) for s in report.services}
    assert counts == {"gateway": 1, "scheduler": 1, "step-runner": 2, "session-manager": 1}
    versions = {i.version for s in report.services for i in s.instances}
    assert versions == {SCHEDULER.version}


async def test_health_ignores_services_of_another_bus(
    gateway_settings: GatewaySettings, service_runner: Any, service_settings: Callable[..., Any]
) -> None:
    other = service_settings(bus_prefix=BusNames(gateway_settings.bus_prefix + "o").prefix)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            service_runner(build_definition(gateway_settings), gateway_settings)
        )
        for definition in (SCHEDULER, STEP_RUNNER, SESSION_MANAGER):
            await stack.enter_async_context(service_runner(definition, other))
        response = await fetch("GET", url(gateway_settings, "/api/health"))
    assert response.status_code == 503
    assert response.json()["missing"] == ["scheduler", "step-runner", "session-manager"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nothing-here", 404), ("POST", "/api/health", 405), ("POST", "/", 405)],
)
async def test_errors_share_one_body(
    gateway_settings: GatewaySettings, service_runner: Any, method: str, path: str, status: int
) -> None:
    async with service_runner(build_definition(gateway_settings), gateway_settings):
        response = await fetch(method, url(gateway_settings, path))
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert body["message"] and body["errors"] == []


async def test_openapi_document_is_generated_from_the_models(
    gateway_settings: GatewaySettings, service_runner: Any
) -> None:
    async with service_runner(build_definition(gateway_settings), gateway_settings):
        response = await fetch("GET", url(gateway_settings, "/api/openapi.json"))
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    health = doc["paths"]["/api/health"]["get"]
    assert set(health["responses"]) == {"200", "503"}
    schemas = doc["components"]["schemas"]
    assert {"HealthReport", "ServiceHealth", "ServiceInstance", "ErrorBody", "ErrorDetail"} <= set(
        schemas
    )
    assert set(schemas["HealthReport"]["properties"]) == set(HealthReport.model_fields)
    # Every reference points at a schema that is there.
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        for value in node.values():
            found += _refs(value)
        return found
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []
