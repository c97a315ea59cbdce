"""``orchest sessions``: launch, list, show, stop and restart interactive sessions.

A session is named by its pipeline: the project's uuid and the pipeline's.
``launch`` reads the pipeline's uuid from its file; a project has no file of
its own, so its uuid defaults to one derived from the project folder's
absolute path (the same folder always gives the same uuid).

``--wait`` follows the pipeline's session events (SSE) and reads the session
again after each one, and after each keep-alive: the session manager writes
the session before it announces the change, so what is read is at least as
new as the event, and a change announced before the stream was open is seen
at the next keep-alive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .auth import auth_headers
from .jobs import call_api
from .project_id import project_uuid_of
from .runs import CliError, api_error

SESSION_STYLE = {
    "LAUNCHING": "yellow",
    "RUNNING": "green",
    "STOPPING": "magenta",
    "STOPPED": "dim",
    "FAILED": "red",
}
ENDED = {"STOPPED", "FAILED"}


def pipeline_uuid_of(pipeline_file: Path) -> str:
    """The ``uuid`` of an Orchest pipeline file."""
    try:
        definition = json.loads(pipeline_file.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"{pipeline_file}: {exc}") from None
    found = definition.get("uuid") if isinstance(definition, dict) else None
    if not isinstance(found, str) or not found:
        raise CliError(f"{pipeline_file}: no pipeline uuid (the file's 'uuid')")
    return found


def launch_body(
    pipeline_file: Path, project_dir: Path | None, project_uuid: str | None, runtime: str | None
) -> dict[str, Any]:
    """The ``POST /api/sessions`` body for a pipeline file; ``project_dir``
    defaults to the file's folder, which must hold the file."""
    project = (project_dir or pipeline_file.parent).resolve()
    path = pipeline_file.resolve()
    if not path.is_relative_to(project):
        raise CliError(f"{pipeline_file} is not inside the project {project}")
    body: dict[str, Any] = {
        "project_uuid": project_uuid or project_uuid_of(project),
        "pipeline_uuid": pipeline_uuid_of(pipeline_file),
        "project_dir": str(project),
        "pipeline_path": str(path.relative_to(project)),
    }
    if runtime is not None:
        body["runtime"] = runtime
    return body


def jupyter_link(session: dict[str, Any]) -> str | None:
    """The session's Jupyter URL with its token, to open as it is."""
    url = session.get("jupyter_url")
    if not url:
        return None
    token = session.get("jupyter_token")
    if not token:
        return str(url)
    return f"{url}{'&' if '?' in url else '?'}token={token}"


def session_line(session: dict[str, Any]) -> str:
    """One line about a session: its uuid, its pipeline, its status and why."""
    line = (
        f"session {session['uuid']} (project {session['project_uuid']},"
        f" pipeline {session['pipeline_uuid']}): {session['status']}"
    )
    if session.get("reason"):
        line += f": {session['reason']}"
    return line


def settled(session: dict[str, Any], ours: str, goal: str) -> bool:
    """Whether waiting for session ``ours`` to reach ``goal`` is over: it did,
    it ended, or the pipeline's session is another one (ours ended before)."""
    return session["uuid"] != ours or session["status"] == goal or session["status"] in ENDED


def _path(project_uuid: str, pipeline_uuid: str) -> str:
    return f"/api/sessions/{project_uuid}/{pipeline_uuid}"


def launch_session(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    return call_api(base_url, "POST", "/api/sessions", 201, json=body)


def stop_session(base_url: str, project_uuid: str, pipeline_uuid: str) -> dict[str, Any]:
    return call_api(base_url, "DELETE", _path(project_uuid, pipeline_uuid), 200)


def restart_session(base_url: str, project_uuid: str, pipeline_uuid: str) -> dict[str, Any]:
    return call_api(base_url, "PUT", _path(project_uuid, pipeline_uuid), 200)


def _read(client: httpx.Client, session: dict[str, Any]) -> dict[str, Any]:
    """The session as it is now (``session``'s own row, even once another
    session of the pipeline took its place)."""
    project_uuid, pipeline_uuid = session["project_uuid"], session["pipeline_uuid"]
    response = client.get(_path(project_uuid, pipeline_uuid))
    if response.status_code != 200:
        raise api_error(response)
    now: dict[str, Any] = response.json()
    if now["uuid"] == session["uuid"]:
        return now
    params = {"project_uuid": project_uuid, "pipeline_uuid": pipeline_uuid, "limit": "500"}
    response = client.get("/api/sessions", params=params)
    if response.status_code != 200:
        raise api_error(response)
    for row in response.json()["sessions"]:
        if row["uuid"] == session["uuid"]:
            return dict(row)
    raise CliError(f"session {session['uuid']} is gone")


def _ticks(client: httpx.Client, params: dict[str, str], retry_for: float) -> Iterator[None]:
    """One tick per event of the stream and per comment (the first one, then
    each keep-alive); reconnects on a dropped connection for up to
    ``retry_for`` seconds."""
    failing_since: float | None = None
    while True:
        try:
            with client.stream("GET", "/api/events", params=params, timeout=None) as response:
                if response.status_code != 200:
                    response.read()
                    raise api_error(response)
                failing_since = None
                in_event = False
                for line in response.iter_lines():
                    if line.startswith(":") or (line == "" and in_event):
                        yield None
                    in_event = line != "" and not line.startswith(":")
            return
        except httpx.TransportError:
            now = time.monotonic()
            failing_since = failing_since or now
            if now - failing_since > retry_for:
                raise CliError(f"no answer from {client.base_url}") from None
            time.sleep(0.5)


def wait_for(
    base_url: str, session: dict[str, Any], goal: str, *, retry_for: float = 30.0
) -> dict[str, Any]:
    """Follow the session until it is ``goal`` or has ended; it then."""
    params = {"session": f"{session['project_uuid']}/{session['pipeline_uuid']}"}
    with httpx.Client(base_url=base_url, headers=auth_headers(), timeout=30.0) as client:
        for _ in _ticks(client, params, retry_for):
            now = _read(client, session)
            if settled(now, session["uuid"], goal):
                return now
    raise CliError("the event stream ended")


def _styled(status: str) -> str:
    style = SESSION_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def print_sessions(base_url: str, params: dict[str, str]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    page = call_api(base_url, "GET", "/api/sessions", 200, params=params)
    table = Table(title=f"{len(page['sessions'])} of {page['total']} sessions")
    for column in ("project", "pipeline", "status", "runtime", "jupyter", "updated"):
        table.add_column(column, no_wrap=column in ("project", "pipeline"))
    for session in page["sessions"]:
        table.add_row(
            session["project_uuid"],
            session["pipeline_uuid"],
            _styled(session["status"]),
            session["runtime"],
            escape(session.get("jupyter_url") or ""),
            session["updated_time"][:19],
        )
    Console().print(table)


def show_session(base_url: str, project_uuid: str, pipeline_uuid: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    session = call_api(base_url, "GET", _path(project_uuid, pipeline_uuid), 200)
    rows = [
        ("status", _styled(session["status"])),
        ("reason", escape(session.get("reason") or "-")),
        ("project", session["project_uuid"]),
        ("pipeline", session["pipeline_uuid"]),
        ("project dir", escape(session["project_dir"])),
        ("pipeline path", escape(session["pipeline_path"])),
        ("runtime", session["runtime"]),
        ("jupyter", escape(jupyter_link(session) or "-")),
        ("kernel gateway", escape(session.get("gateway_url") or "-")),
        *(
            (f"details: {key}", escape(json.dumps(value, separators=(",", ":"))))
            for key, value in (session.get("details") or {}).items()
        ),
        ("created", session["created_time"][:19]),
        ("updated", session["updated_time"][:19]),
    ]
    table = Table(title=f"session {session['uuid']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field, value in rows:
        table.add_row(field, value)
    Console().print(table)
