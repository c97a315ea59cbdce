"""``orchest sessions``: the project uuid, the launch body, links, when a
wait is over, how a session is named, and how the arguments reach the API
calls."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchest_cli import sessions
from orchest_cli.errors import CliError
from orchest_cli.main import cli
from orchest_schemas.sessions import SessionView

PIPELINE = "6073d12c-194f-4a6a-9836-600bccb37482"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "p.orchest").write_text(json.dumps({"uuid": PIPELINE, "steps": {}}))
    return root


def test_the_project_uuid_is_stable_and_depends_on_the_absolute_path_only(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived = sessions.project_uuid_of(project)
    assert uuid.UUID(derived).version == 5
    assert derived == str(uuid.uuid5(uuid.NAMESPACE_URL, project.resolve().as_uri()))
    monkeypatch.chdir(project.parent)
    assert sessions.project_uuid_of(Path("project")) == derived
    assert sessions.project_uuid_of(project / "pipelines" / "..") == derived
    assert sessions.project_uuid_of(project.parent) != derived
    (project.parent / "link").symlink_to(project)
    assert sessions.project_uuid_of(project.parent / "link") == derived


def test_the_launch_body_of_a_pipeline_file(project: Path) -> None:
    pipeline_file = project / "pipelines" / "p.orchest"
    body = sessions.launch_body(pipeline_file, project, None, "docker")
    assert body == {
        "project_uuid": sessions.project_uuid_of(project),
        "pipeline_uuid": PIPELINE,
        "project_dir": str(project.resolve()),
        "pipeline_path": os.path.join("pipelines", "p.orchest"),
        "runtime": "docker",
    }
    alone = sessions.launch_body(pipeline_file, None, "my-project", None)
    assert alone["project_dir"] == str(pipeline_file.parent.resolve())
    assert alone["pipeline_path"] == "p.orchest"
    assert alone["project_uuid"] == "my-project"
    assert "runtime" not in alone


def test_a_pipeline_file_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(CliError, match="not inside the project"):
        sessions.launch_body(project / "pipelines" / "p.orchest", elsewhere, None, None)


@pytest.mark.parametrize(
    "content", ["{", "[]", "{}", '{"uuid": ""}', '{"uuid": 3}', '{"name": "no uuid"}']
)
def test_a_pipeline_file_without_a_uuid_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.orchest"
    path.write_text(content)
    with pytest.raises(CliError, match=r"p\.orchest"):
        sessions.pipeline_uuid_of(path)


def view(**fields: Any) -> SessionView:
    """A session as the API answers it (the fields a test cares about over these)."""
    base = {
        "uuid": "s",
        "project_uuid": "p",
        "pipeline_uuid": "q",
        "project_dir": "/p",
        "pipeline_path": "p.orchest",
        "runtime": "process",
        "status": "LAUNCHING",
        "created_time": "2026-01-01T00:00:00+00:00",
        "updated_time": "2026-01-01T00:00:00+00:00",
    }
    return SessionView.model_validate({**base, **fields})


def test_the_jupyter_link_carries_the_token_unless_not_asked() -> None:
    assert sessions.jupyter_link(view(jupyter_url=None)) is None
    assert sessions.jupyter_link(view(jupyter_url="http://h:1/")) == "http://h:1/"
    link = sessions.jupyter_link(view(jupyter_url="http://h:1/lab", jupyter_token="t"))
    assert link == "http://h:1/lab?token=t"
    link = sessions.jupyter_link(view(jupyter_url="http://h:1/?a=b", jupyter_token="t"))
    assert link == "http://h:1/?a=b&token=t"
    hidden = view(jupyter_url="http://h:1/lab", jupyter_token="t")
    assert sessions.jupyter_link(hidden, token=False) == "http://h:1/lab"


def test_show_prints_no_token_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    session = view(
        status="RUNNING",
        jupyter_url="http://h:1/",
        jupyter_token="jupyter-secret",
        details={"gateway_token": "gateway-secret", "kernels": ["python3"]},
    )
    sessions.show_session(session, show_token=False)
    hidden = capsys.readouterr().out
    assert "secret" not in hidden and "python3" in hidden and "--show-token" in hidden
    sessions.show_session(session, show_token=True)
    shown = capsys.readouterr().out
    assert "jupyter-secret" in shown and "gateway-secret" in shown
    assert "secret" not in sessions.without_tokens(session).model_dump_json()


def test_a_session_line_names_the_pipeline_and_why() -> None:
    line = sessions.session_line(view(status="FAILED", reason="no jupyter"))
    assert line == "session s (project p, pipeline q): FAILED: no jupyter"
    assert sessions.session_line(view(status="FAILED")).endswith("): FAILED")


@pytest.mark.parametrize(
    ("uuid_", "status", "goal", "over"),
    [
        ("mine", "LAUNCHING", "RUNNING", False),
        ("mine", "STOPPING", "RUNNING", False),
        ("mine", "RUNNING", "RUNNING", True),
        ("mine", "FAILED", "RUNNING", True),
        ("mine", "STOPPED", "RUNNING", True),
        ("mine", "STOPPING", "STOPPED", False),
        ("mine", "RUNNING", "STOPPED", False),
        ("mine", "STOPPED", "STOPPED", True),
        ("mine", "FAILED", "STOPPED", True),
        ("another", "LAUNCHING", "RUNNING", True),
    ],
)
def test_when_a_wait_is_over(uuid_: str, status: str, goal: str, over: bool) -> None:
    assert sessions.settled(view(uuid=uuid_, status=status), "mine", goal) is over


def test_a_session_is_named_by_its_file_or_two_uuids(project: Path) -> None:
    pipeline_file = project / "pipelines" / "p.orchest"
    key = sessions.session_key(None, (str(pipeline_file),))  # type: ignore[arg-type]
    assert key == (sessions.project_uuid_of(pipeline_file.parent), PIPELINE)
    key = sessions.session_key(None, (str(pipeline_file),), project)  # type: ignore[arg-type]
    assert key == (sessions.project_uuid_of(project), PIPELINE)
    assert sessions.session_key(None, ("p", "q")) == ("p", "q")  # type: ignore[arg-type]


# -- arguments (the API calls replaced)


class Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, tuple[Any, ...]]] = []
        for name in ("launch_session", "stop_session", "restart_session", "get_session"):
            monkeypatch.setattr(sessions, name, self._record(name, view()))
        monkeypatch.setattr(sessions, "show_session", self._record("show_session", None))
        monkeypatch.setattr(sessions, "wait_for", self._record("wait_for", view()))

    def _record(self, name: str, answer: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.made.append((name, args[1:] if name != "wait_for" else args))
            return answer

        return call


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["sessions", *args, "--url", "http://api"])


def test_launch_arguments(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    pipeline_file = str(project / "pipelines" / "p.orchest")
    result = run("launch", pipeline_file, "--project-dir", str(project), "--runtime", "process")
    assert result.exit_code == 0, result.output
    assert result.output == "session s (project p, pipeline q): LAUNCHING\n"
    [(name, (body,))] = calls.made
    assert name == "launch_session"
    assert body == sessions.launch_body(Path(pipeline_file), project, None, "process")

    assert run("launch", pipeline_file, "--runtime", "kubernetes").exit_code == 2
    assert run("launch", str(project / "missing.orchest")).exit_code == 2
    assert run("launch").exit_code == 2


def test_wait_asks_for_the_status_each_command_settles_in(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    pipeline_file = str(project / "pipelines" / "p.orchest")
    for args, goal in (
        (("launch", pipeline_file, "--wait"), "RUNNING"),
        (("restart", "p", "q", "--wait"), "RUNNING"),
        (("stop", pipeline_file, "--wait"), "STOPPED"),
    ):
        calls.made.clear()
        result = run(*args)
        assert result.exit_code == 1, result.output  # LAUNCHING: not the goal
        assert [name for name, _ in calls.made][-1] == "wait_for"
        assert calls.made[-1][1][2] == goal
    calls.made.clear()
    assert run("stop", "p", "q").exit_code == 0
    assert calls.made == [("stop_session", (("p", "q"),))]
    calls.made.clear()
    assert run("stop", pipeline_file).exit_code == 0
    assert calls.made == [
        ("stop_session", ((sessions.project_uuid_of(project / "pipelines"), PIPELINE),))
    ]


def test_show_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    assert run("show", "p", "q").exit_code == 0
    assert run("show", "p", "q", "--show-token").exit_code == 0
    assert calls.made == [
        ("get_session", (("p", "q"),)),
        ("show_session", ()),
        ("get_session", (("p", "q"),)),
        ("show_session", ()),
    ]
    assert run("show", "p").exit_code == 2
    assert run("show", "p", "q", "r").exit_code == 2
