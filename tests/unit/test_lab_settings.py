"""Where a session's JupyterLab opens, and that both runtimes configure it alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchest_session_manager.runtime.lab import (
    CONNECTION_MODULE,
    LAB_SETTINGS,
    PAGE_CONFIG,
    lab_path,
    server_arguments,
)

IMAGE = Path(__file__).resolve().parents[2] / "images" / "jupyter-server"


@pytest.mark.parametrize(
    ("pipeline_path", "expected"),
    [
        ("main.orchest", "/lab"),
        ("./main.orchest", "/lab"),
        ("analysis/main.orchest", "/lab/tree/analysis"),
        ("a/b c/main.orchest", "/lab/tree/a/b%20c"),
        ("a/#?/main.orchest", "/lab/tree/a/%23%3F"),
        ("../outside/main.orchest", "/lab"),
        ("/abs/main.orchest", "/lab"),
    ],
)
def test_lab_opens_in_the_pipeline_folder(pipeline_path: str, expected: str) -> None:
    assert lab_path(pipeline_path) == expected


def test_the_docker_runtime_passes_the_same_settings_on_the_command_line() -> None:
    assert server_arguments("analysis/p.orchest") == [
        "--ServerApp.default_url=/lab/tree/analysis",
        "--ServerApp.kernel_websocket_connection_class=orchest_jupyter.GatewayConnection",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]


def test_the_image_holds_the_same_lab_configuration() -> None:
    assert json.loads((IMAGE / "page_config.json").read_text()) == PAGE_CONFIG
    assert CONNECTION_MODULE == IMAGE / "orchest_jupyter.py"
    config = (IMAGE / "jupyter_server_config.py").read_text()
    for name, value in LAB_SETTINGS.items():
        shown = "None" if value is None else f'"{value}"'
        assert f"c.LabApp.{name} = {shown}" in config
