"""Bearer-token auth of the gateway (``ORCHEST_API_TOKENS``), on a whole stack.

Every operation of the OpenAPI document answers 401 (the API's error body,
``WWW-Authenticate: Bearer``) without a valid token and something else with
one; ``/api/ping`` stays open; ``/api/events`` also takes ``?access_token=``.
The CLI sends ``ORCHEST_API_TOKEN``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_stack import make_stack
from runs_harness import Stack, whole_stack

from orchest_cli.auth import api_token, auth_headers
from orchest_gateway.auth import TokenChecker, presented_token
from orchest_gateway.settings import GatewaySettings
from orchest_service.settings import ServiceSettings
from support import ENV_WITHOUT_ORCHEST

TOKENS = ("first-token-0123456789", "second-token-9876543210")
GOOD = {"Authorization": f"Bearer {TOKENS[1]}"}


def gateway_overrides(service_settings: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
    """``service_settings`` whose ``GatewaySettings`` get ``overrides``."""

    def build(cls: type[ServiceSettings] = ServiceSettings, **values: Any) -> Any:
        if issubclass(cls, GatewaySettings):
            values = {**overrides, **values}
        return service_settings(cls, **values)

    return build


@pytest.fixture(scope="module")
async def stack(module_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """A stack whose gateway takes ``TOKENS``, shared by the module's tests
    (which only send requests and read the answers)."""
    settings = gateway_overrides(module_settings, api_tokens=" , ".join(TOKENS))
    async with whole_stack(settings, sessions={}) as s:
        yield s


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, concrete path, operation) of every operation of the document."""
    found = []
    for template, item in document["paths"].items():
        path = template
        for name in ("run_uuid", "job_uuid"):
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        for name in ("step_uuid", "name", "project_uuid", "pipeline_uuid"):
            path = path.replace("{" + name + "}", "x")
        for method, operation in item.items():
            found.append((method.upper(), path, operation))
    return found


async def send(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """One request; a stream is read only as far as its status and headers."""
    body = {"json": {}} if method in ("POST", "PUT") else {}
    async with http.stream(method, path, headers=headers, **body, **kwargs) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            await response.aread()
        return response


def assert_refused(response: httpx.Response, kind: str) -> None:
    assert response.status_code == 401, (response.request.url, response.text)
    assert response.headers["www-authenticate"].startswith('Bearer realm="orchest"')
    body = response.json()
    assert set(body) == {"message", "errors"}
    assert [e["type"] for e in body["errors"]] == [kind]


async def test_every_operation_needs_a_token(stack: Stack) -> None:
    document = (await stack.http.get("/api/openapi.json", headers=GOOD)).json()
    ops = operations(document)
    assert len(ops) >= 20
    for method, path, operation in ops:
        open_ = operation["security"] == []
        without = await send(stack.http, method, path, {})
        wrong = await send(stack.http, method, path, {"Authorization": "Bearer not-a-token"})
        basic = await send(stack.http, method, path, {"Authorization": "Basic dXNlcjpwdw=="})
        right = await send(stack.http, method, path, GOOD)
        assert right.status_code != 401, (method, path, right.text)
        if open_:
            assert operation["operationId"] == "ping"
            assert without.status_code == wrong.status_code == 204
            continue
        assert_refused(without, "token_missing")
        assert 'error="invalid_token"' not in without.headers["www-authenticate"]
        assert_refused(wrong, "token_invalid")
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        assert_refused(basic, "token_invalid")
        assert "401" in operation["responses"], operation["operationId"]


async def test_paths_that_name_nothing_are_401_first(stack: Stack) -> None:
    """The check comes before routing: without a token, nothing says which paths exist."""
    assert_refused(await send(stack.http, "GET", "/api/nothing-here", {}), "token_missing")
    assert (await send(stack.http, "GET", "/api/nothing-here", GOOD)).status_code == 404
    assert (await send(stack.http, "POST", "/api/ping", {})).status_code == 401


async def test_the_document_declares_the_scheme(stack: Stack) -> None:
    assert (await stack.http.get("/api/openapi.json")).status_code == 401
    document = (await stack.http.get("/api/openapi.json", headers=GOOD)).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["queryToken"]["in"] == "query"
    assert schemes["queryToken"]["name"] == "access_token"
    events = document["paths"]["/api/events"]["get"]
    assert events["security"] == [{"bearerAuth": []}, {"queryToken": []}]
    assert document["paths"]["/api/runs"]["get"]["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/api/ping"]["get"]["security"] == []


async def test_events_take_the_token_as_a_query_parameter(stack: Stack) -> None:
    """EventSource cannot set headers: ``?access_token=`` on /api/events only."""
    async with stack.http.stream(
        "GET", "/api/events", params={"access_token": TOKENS[0]}
    ) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert await asyncio.wait_for(anext(lines), 10) == ": connected"
    wrong = await send(stack.http, "GET", "/api/events", {}, params={"access_token": "nope"})
    assert_refused(wrong, "token_invalid")
    elsewhere = await send(stack.http, "GET", "/api/runs", {}, params={"access_token": TOKENS[0]})
    assert_refused(elsewhere, "token_missing")


async def test_the_cli_sends_its_token(stack: Stack) -> None:
    url = str(stack.http.base_url).rstrip("/")

    async def runs(env: dict[str, str]) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchest_cli",
            "runs",
            "--url",
            url,
            env={**ENV_WITHOUT_ORCHEST, "COLUMNS": "200", **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode()

    total = (await stack.http.get("/api/runs", headers=GOOD)).json()["total"]
    code, out = await runs({"ORCHEST_API_TOKEN": TOKENS[0]})
    assert code == 0 and f"of {total} runs" in out, out
    code, out = await runs({})
    assert code == 1 and "authentication required" in out, out
    code, out = await runs({"ORCHEST_API_TOKEN": "wrong"})
    assert code == 1 and "not valid" in out, out


@pytest.mark.e2e
async def test_orchest_up_with_tokens(workdir: Path) -> None:
    """``orchest up`` passes the tokens to the gateway and waits for health with
    one; ``orchest status`` sends one too."""
    stack = make_stack(workdir, ORCHEST_API_TOKENS=",".join(TOKENS))
    try:
        stack.up()
        status = stack.orchest("status")
        assert status.returncode == 0, status.stdout + status.stderr
        async with httpx.AsyncClient(base_url=stack.url, timeout=10.0) as http:
            assert (await http.get("/api/health")).status_code == 401
            assert (await http.get("/api/health", headers=GOOD)).status_code == 200
            assert (await http.get("/api/ping")).status_code == 204
    finally:
        stack.orchest("down")


def test_tokens_are_compared_whole() -> None:
    checker = TokenChecker(TOKENS)
    assert checker.enabled and not TokenChecker(()).enabled
    assert all(checker.valid(t.encode()) for t in TOKENS)
    for wrong in (b"", TOKENS[0][:-1].encode(), TOKENS[0].encode() + b"x", b"first-token"):
        assert not checker.valid(wrong)
    assert GatewaySettings(api_tokens=" a, ,b ,").tokens == ("a", "b")
    assert GatewaySettings().tokens == ()


@pytest.mark.parametrize(
    ("headers", "query", "path", "token"),
    [
        ([(b"authorization", b"Bearer abc")], b"", "/api/runs", b"abc"),
        ([(b"authorization", b"bearer   abc  ")], b"", "/api/runs", b"abc"),
        ([(b"authorization", b"Basic abc")], b"", "/api/runs", b""),
        ([(b"authorization", b"Bearer")], b"", "/api/runs", b""),
        ([], b"access_token=abc", "/api/runs", None),
        ([], b"access_token=a%2Bb&x=1", "/api/events", b"a+b"),
        ([(b"authorization", b"Bearer h")], b"access_token=q", "/api/events", b"h"),
        ([], b"", "/api/events", None),
    ],
)
def test_where_the_token_is_read(
    headers: list[tuple[bytes, bytes]], query: bytes, path: str, token: bytes | None
) -> None:
    scope = {"type": "http", "headers": headers, "query_string": query, "path": path}
    assert presented_token(scope) == token


def test_the_cli_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHEST_API_TOKEN", raising=False)
    monkeypatch.delenv("ORCHEST_API_TOKENS", raising=False)
    assert api_token() is None and auth_headers() == {}
    monkeypatch.setenv("ORCHEST_API_TOKENS", " one , two")
    assert api_token() == "one"
    monkeypatch.setenv("ORCHEST_API_TOKEN", "mine")
    assert auth_headers() == {"Authorization": "Bearer mine"}
