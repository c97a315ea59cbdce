"""``orchest sessions``: the project uuid, the launch body, links, when a
wait is over, and how the arguments reach the API calls."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchest_cli import sessions
from orchest_cli.main import cli
from orchest_cli.runs import CliError

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


def test_the_jupyter_link_carries_the_token() -> None:
    assert sessions.jupyter_link({"jupyter_url": None}) is None
    assert sessions.jupyter_link({"jupyter_url": "http://h:1/"}) == "http://h:1/"
    link = sessions.jupyter_link({"jupyter_url": "http://h:1/lab", "jupyter_token": "t"})
    assert link == "http://h:1/lab?token=t"
    link = sessions.jupyter_link({"jupyter_url": "http://h:1/?a=b", "jupyter_token": "t"})
    assert link == "http://h:1/?a=b&token=t"


def test_a_session_line_names_the_pipeline_and_why() -> None:
    session = {"uuid": "s", "project_uuid": "p", "pipeline_uuid": "q", "status": "FAILED"}
    line = sessions.session_line({**session, "reason": "no jupyter"})
    assert line == "session s (project p, pipeline q): FAILED: no jupyter"
    assert sessions.session_line(session).endswith("): FAILED")


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
    assert sessions.settled({"uuid": uuid_, "status": status}, "mine", goal) is over


# -- arguments (the API calls replaced)


class Calls:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, tuple[Any, ...]]] = []
        session = {"uuid": "s", "project_uuid": "p", "pipeline_uuid": "q", "status": "LAUNCHING"}
        for name in ("launch_session", "stop_session", "restart_session"):
            monkeypatch.setattr(sessions, name, self._record(name, session))
        for name in ("print_sessions", "show_session"):
            monkeypatch.setattr(sessions, name, self._record(name, None))
        monkeypatch.setattr(sessions, "wait_for", self._record("wait_for", {**session}))

    def _record(self, name: str, answer: Any) -> Any:
        def call(*args: Any) -> Any:
            self.made.append((name, args))
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
    [(name, (base_url, body))] = calls.made
    assert (name, base_url) == ("launch_session", "http://api")
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
        (("stop", "p", "q", "--wait"), "STOPPED"),
    ):
        calls.made.clear()
        result = run(*args)
        assert result.exit_code == 1, result.output  # LAUNCHING: not the goal
        assert [name for name, _ in calls.made][-1] == "wait_for"
        assert calls.made[-1][1][2] == goal
    calls.made.clear()
    assert run("stop", "p", "q").exit_code == 0
    assert calls.made == [("stop_session", ("http://api", "p", "q"))]


def test_list_and_show_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    assert run("list").exit_code == 0
    assert run("list", "--all", "--project", "p", "-n", "5").exit_code == 0
    assert run("show", "p", "q").exit_code == 0
    assert calls.made == [
        ("print_sessions", ("http://api", {"limit": "20", "live": "true"})),
        ("print_sessions", ("http://api", {"limit": "5", "project_uuid": "p"})),
        ("show_session", ("http://api", "p", "q")),
    ]
    assert run("show", "p").exit_code == 2
