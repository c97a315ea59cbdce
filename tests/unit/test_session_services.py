"""Which of a pipeline's services start with its session, and how."""

from __future__ import annotations

import json
from pathlib import Path

from orchest_session_manager.runtime.services import interactive_services, not_started


def write(root: Path, services: dict[str, object]) -> None:
    definition = {"uuid": "p", "name": "p", "steps": {}, "services": services}
    (root / "main.orchest").write_text(json.dumps(definition))


def test_only_interactive_services_in_their_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "b": {"name": "b", "command": "serve b", "scope": ["interactive"], "order": 2},
            "a": {"name": "a", "command": "serve a", "scope": ["interactive"], "order": 1},
            "c": {"name": "c", "command": "serve c", "scope": ["noninteractive"]},
            "d": {"name": "d", "command": "serve d", "scope": ["interactive"]},
        },
    )
    found = interactive_services(str(tmp_path), "main.orchest", {})
    assert [s.name for s in found] == ["a", "b", "d"]


def test_command_line_env_and_urls(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "web": {
                "name": "web",
                "entrypoint": "/bin/run",
                "command": "serve",
                "args": "--port 8080",
                "ports": [8080, 8081],
                "env_variables": {"A": "1", "SHARED": "service"},
                "env_variables_inherit": ["SHARED", "FROM_SESSION", "ABSENT"],
                "scope": ["interactive"],
            }
        },
    )
    (web,) = interactive_services(
        str(tmp_path), "main.orchest", {"SHARED": "session", "FROM_SESSION": "x", "OTHER": "y"}
    )
    assert web.command_line == "/bin/run serve --port 8080"
    assert web.env == {"A": "1", "SHARED": "service", "FROM_SESSION": "x"}
    assert web.urls == ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/"]


def test_an_unreadable_pipeline_file_has_no_services(tmp_path: Path) -> None:
    assert interactive_services(str(tmp_path), "missing.orchest", {}) == []
    (tmp_path / "bad.orchest").write_text("[1, 2")
    assert interactive_services(str(tmp_path), "bad.orchest", {}) == []


def test_a_runtime_that_does_not_start_them_says_so(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"web": {"name": "web", "command": "serve", "ports": [8080], "scope": ["interactive"]}},
    )
    services = interactive_services(str(tmp_path), "main.orchest", {})
    (web,) = not_started(services)
    assert web["urls"] == ["http://127.0.0.1:8080/"]
    assert str(web["state"]).startswith("not started: ")
