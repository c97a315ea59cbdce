"""``orchest sessions``: launch, list, show, stop and restart interactive sessions.

A session is the session of a pipeline: the API names it by the project's
uuid and the pipeline's; people name it by the pipeline file (the project's
uuid derived from the project folder's absolute path, the same folder always
giving the same uuid; the pipeline's read from the file), by
``PROJECT/PIPELINE_PATH`` (a project of the stack), or by the two uuids.

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

import click
import httpx

from orchest_schemas.sessions import SessionList, SessionView

from .api import Api
from .auth import auth_headers
from .errors import CliError, api_error
from .output import Column, print_fields, print_table, styled, when
from .pipeline_file import read_definition
from .project_id import project_uuid_of

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
    found = read_definition(pipeline_file).get("uuid")
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


def jupyter_link(session: SessionView, *, token: bool = True) -> str | None:
    """The session's Jupyter URL, with its token (to open as it is) unless not asked."""
    url = session.jupyter_url
    if not url or not token or not session.jupyter_token:
        return url
    return f"{url}{'&' if '?' in url else '?'}token={session.jupyter_token}"


def session_line(session: SessionView) -> str:
    """One line about a session: its uuid, its pipeline, its status and why."""
    line = (
        f"session {session.uuid} (project {session.project_uuid},"
        f" pipeline {session.pipeline_uuid}): {session.status}"
    )
    if session.reason:
        line += f": {session.reason}"
    return line


def settled(session: SessionView, ours: str, goal: str) -> bool:
    """Whether waiting for session ``ours`` to reach ``goal`` is over: it did,
    it ended, or the pipeline's session is another one (ours ended before)."""
    return session.uuid != ours or session.status == goal or session.status in ENDED


def session_key(
    api: Api, target: tuple[str, ...], project_dir: Path | None = None
) -> tuple[str, str]:
    """``(project uuid, pipeline uuid)`` of the session ``target`` names: a
    pipeline file, ``PROJECT/PIPELINE_PATH``, or the two uuids."""
    if len(target) == 2:
        return target[0], target[1]
    if len(target) != 1:
        raise click.UsageError(
            "name a session by PIPELINE_FILE, PROJECT/PIPELINE_PATH or two uuids"
        )
    path = Path(target[0])
    if path.is_file():
        return project_uuid_of((project_dir or path.parent).resolve()), pipeline_uuid_of(path)
    project_name, sep, pipeline_path = target[0].partition("/")
    if not sep or not project_name or not pipeline_path:
        raise click.UsageError(
            f"{target[0]}: no such file, and not PROJECT/PIPELINE_PATH (a project's pipeline)"
        )
    from .projects import find_pipeline, find_project

    project = find_project(api, project_name)
    return project.uuid, find_pipeline(api, project, pipeline_path).uuid


def _path(project_uuid: str, pipeline_uuid: str) -> str:
    return f"/api/sessions/{project_uuid}/{pipeline_uuid}"


def launch_session(api: Api, body: dict[str, Any]) -> SessionView:
    return api.send("POST", "/api/sessions", SessionView, 201, json=body)


def stop_session(api: Api, key: tuple[str, str]) -> SessionView:
    return api.send("DELETE", _path(*key), SessionView)


def restart_session(api: Api, key: tuple[str, str]) -> SessionView:
    return api.send("PUT", _path(*key), SessionView)


def get_session(api: Api, key: tuple[str, str]) -> SessionView:
    return api.get(_path(*key), SessionView)


def _read(client: httpx.Client, session: SessionView) -> SessionView:
    """The session as it is now (``session``'s own row, even once another
    session of the pipeline took its place)."""
    project_uuid, pipeline_uuid = session.project_uuid, session.pipeline_uuid
    response = client.get(_path(project_uuid, pipeline_uuid))
    if response.status_code != 200:
        raise api_error(response)
    now = SessionView.model_validate_json(response.content)
    if now.uuid == session.uuid:
        return now
    params = {"project_uuid": project_uuid, "pipeline_uuid": pipeline_uuid, "limit": "500"}
    response = client.get("/api/sessions", params=params)
    if response.status_code != 200:
        raise api_error(response)
    for row in SessionList.model_validate_json(response.content).sessions:
        if row.uuid == session.uuid:
            return row
    raise CliError(f"session {session.uuid} is gone")


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
    base_url: str, session: SessionView, goal: str, *, retry_for: float = 30.0
) -> SessionView:
    """Follow the session until it is ``goal`` or has ended; it then."""
    params = {"session": f"{session.project_uuid}/{session.pipeline_uuid}"}
    with httpx.Client(base_url=base_url, headers=auth_headers(), timeout=30.0) as client:
        for _ in _ticks(client, params, retry_for):
            now = _read(client, session)
            if settled(now, session.uuid, goal):
                return now
    raise CliError("the event stream ended")


SESSION_COLUMNS = (
    Column("pipeline", 6),
    Column("status", 6, no_wrap=True),
    Column("project", 3),
    Column("runtime", 2, no_wrap=True),
    Column("jupyter", 4),
    Column("updated", 1),
    Column("project uuid", 0, no_wrap=True),
    Column("pipeline uuid", 0, no_wrap=True),
)


def print_sessions(page: SessionList, *, wide: bool) -> None:
    from rich.markup import escape

    rows = [
        [
            escape(session.pipeline_path),
            styled(session.status, SESSION_STYLE),
            escape(session.project_dir),
            session.runtime,
            escape(session.jupyter_url or ""),
            when(session.updated_time),
            session.project_uuid,
            session.pipeline_uuid,
        ]
        for session in page.sessions
    ]
    title = f"{len(page.sessions)} of {page.total} sessions"
    print_table(SESSION_COLUMNS, rows, title=title, wide=wide)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def without_tokens(session: SessionView) -> SessionView:
    """The session with its secrets blanked: the Jupyter token and each
    ``details`` entry named ``*token*`` (the kernel gateway's)."""
    details = {
        key: HIDDEN if "token" in key.lower() else value for key, value in session.details.items()
    }
    return session.model_copy(
        update={"jupyter_token": HIDDEN if session.jupyter_token else None, "details": details}
    )


HIDDEN = "(hidden: --show-token)"


def show_session(session: SessionView, *, show_token: bool) -> None:
    from rich.markup import escape

    link = jupyter_link(session, token=show_token)
    if not show_token:
        session = without_tokens(session)
    if link and session.jupyter_token and not show_token:
        link += f"  (token {HIDDEN})"
    rows = [
        ("status", styled(session.status, SESSION_STYLE)),
        ("reason", escape(session.reason or "-")),
        ("project", session.project_uuid),
        ("pipeline", session.pipeline_uuid),
        ("project dir", escape(session.project_dir)),
        ("pipeline path", escape(session.pipeline_path)),
        ("runtime", session.runtime),
        ("jupyter", escape(link or "-")),
        ("kernel gateway", escape(session.gateway_url or "-")),
        *(
            (f"service {service.name}", escape(f"{' '.join(service.urls) or '-'}  {service.state}"))
            for service in session.services
        ),
        *(
            (f"details: {key}", escape(value if value == HIDDEN else _compact(value)))
            for key, value in session.details.items()
            if key != "services"
        ),
        ("created", when(session.created_time)),
        ("updated", when(session.updated_time)),
    ]
    print_fields(f"session {session.uuid}", rows)
