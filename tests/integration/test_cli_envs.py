"""``orchest envs`` as a user runs it, against a whole stack with a session
manager (the builder)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from runs_harness import Stack, whole_stack
from test_cli_jobs import orchest


@pytest.fixture
async def stack(service_settings: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Stack]:
    async with whole_stack(
        service_settings, sessions={"environments_dir": tmp_path / "environments"}
    ) as s:
        yield s


async def test_environments_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    made = await orchest(stack, "projects", "create", "demo")
    assert made.code == 0, made.err
    script = tmp_path / "setup.sh"
    script.write_text("echo setting up $GREETING\n")
    created = await orchest(
        stack, "envs", "create", "demo", "Tools", "--setup-script", str(script),
        "--env", "GREETING=hello", "--wait",
    )  # fmt: skip
    assert created.code == 0, created.err
    assert created.out.startswith("environment Tools (") and "SUCCESS" in created.out, created.out

    listed = await orchest(stack, "envs", "list", "demo", "-o", "json")
    assert listed.code == 0, listed.err
    [env] = json.loads(listed.out)
    assert env["name"] == "Tools" and env["latest_build"]["status"] == "SUCCESS"
    table = await orchest(stack, "envs", "list", "demo")
    assert "Tools" in table.out and "SUCCESS" in table.out

    logs = await orchest(stack, "envs", "logs", "demo", "tools", "-f")
    assert logs.code == 0, logs.err
    assert "setting up hello" in logs.out, logs.out

    script.write_text("echo broken\nexit 4\n")
    failing = await orchest(stack, "envs", "build", "demo", env["uuid"][:8], "--wait")
    assert failing.code == 0, failing.err  # the script is the files', not this one: unchanged
    assert "SUCCESS" in failing.out

    removed = await orchest(stack, "envs", "rm", "demo", "Tools")
    assert removed.code == 0, removed.err
    assert "deleted" in removed.out
    gone = await orchest(stack, "envs", "logs", "demo", "Tools")
    assert gone.code == 1 and "no environment 'Tools'" in gone.err
    assert "Traceback" not in gone.err
