"""Which of a pipeline's services start with its session, and how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchest_service.docker import Limits
from orchest_session_manager.runtime.base import SessionSpec
from orchest_session_manager.runtime.docker_services import service_config
from orchest_session_manager.runtime.services import ServiceSpec, interactive_services


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
    assert (web.entrypoint, web.command, web.args) == ("/bin/run", "serve", "--port 8080")
    assert web.env == {"A": "1", "SHARED": "service", "FROM_SESSION": "x"}
    assert web.urls == ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/"]


def test_an_unreadable_pipeline_file_has_no_services(tmp_path: Path) -> None:
    assert interactive_services(str(tmp_path), "missing.orchest", {}) == []
    (tmp_path / "bad.orchest").write_text("[1, 2")
    assert interactive_services(str(tmp_path), "bad.orchest", {}) == []


def container_of(service: ServiceSpec, tmp_path: Path) -> dict[str, Any]:
    spec = SessionSpec(
        session_uuid="s",
        project_uuid="p",
        pipeline_uuid="q",
        project_dir=str(tmp_path / "project"),
        pipeline_path="main.orchest",
        env={"ORCHEST_PIPELINE_UUID": "q"},
    )
    return service_config(
        service,
        spec,
        user="1000:1000",
        labels={"orchest.role": "service:web"},
        limits=Limits(1024**3, 1.0, 64),
        data_dir=tmp_path / "data",
    )


def test_a_docker_services_container(tmp_path: Path) -> None:
    """Entrypoint and command split as a shell would; the two binds mounted
    where the service says; the project's mount point its working directory."""
    web = ServiceSpec(
        name="web",
        image="my/web:1",
        command_line="",
        entrypoint="bash",
        command="-c 'serve --port 8080'",
        args="--verbose",
        env={"A": "1"},
        binds={"/project-dir": "/code", "/data": "/data"},
    )
    config = container_of(web, tmp_path)
    assert config["Image"] == "my/web:1"
    assert config["Entrypoint"] == ["bash"]
    assert config["Cmd"] == ["-c", "serve --port 8080", "--verbose"]
    assert config["WorkingDir"] == "/code"
    assert config["User"] == "1000:1000"
    assert set(config["Env"]) == {
        "HOME=/tmp",
        "ORCHEST_PIPELINE_UUID=q",
        "A=1",
        "ORCHEST_PROJECT_DIR=/code",
    }
    host = config["HostConfig"]
    assert host["NetworkMode"] == "host" and host["CapDrop"] == ["ALL"]
    assert [(m["Source"], m["Target"]) for m in host["Mounts"]] == [
        (str(tmp_path / "project"), "/code")
    ]
    assert host["Binds"] == [f"{tmp_path / 'data'}:/data"]  # made when missing


def test_a_docker_service_without_command_runs_the_images(tmp_path: Path) -> None:
    config = container_of(ServiceSpec(name="db", image="redis:7", command_line=""), tmp_path)
    assert "Cmd" not in config and "Entrypoint" not in config and "WorkingDir" not in config


@pytest.mark.parametrize(
    ("binds", "command", "refused"),
    [
        ({"/etc": "/host-etc"}, None, "bind /etc: only /project-dir and /data are bound"),
        ({"/data": "data"}, None, "bind /data: 'data' is not an absolute path"),
        ({}, "sh -c 'unclosed", "No closing quotation"),
    ],
)
def test_a_docker_service_refused(
    tmp_path: Path, binds: dict[str, str], command: str | None, refused: str
) -> None:
    service = ServiceSpec(name="x", image="i", command_line="", command=command, binds=binds)
    with pytest.raises(ValueError, match=refused):
        container_of(service, tmp_path)
