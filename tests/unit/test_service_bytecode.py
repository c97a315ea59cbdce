"""The stack's services write the bytecode of what they import, also where
``PYTHONDONTWRITEBYTECODE`` is set: each start after the first loads it
instead of compiling pydantic, nats-py, aiohttp... again, four processes at
once (``orchest_cli.bytecode``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchest_cli.bytecode import bytecode_env


def import_in_child(env: dict[str, str], folder: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", "import some_module"],
        cwd=folder,
        env={**env, "PYTHONPATH": str(folder)},
        check=True,
    )


def test_services_write_their_bytecode_to_a_cache_under_dontwritebytecode(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "some_module.py").write_text("VALUE = 1\n")
    cache = tmp_path / "cache"
    parent = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(cache)}

    env = bytecode_env(parent)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    import_in_child(env, source)

    prefix = cache / "orchest" / "pycache"
    assert env["PYTHONPYCACHEPREFIX"] == str(prefix)
    assert list(prefix.rglob("some_module.*.pyc")), "the service wrote no bytecode"
    assert not (source / "__pycache__").exists()  # nothing next to the sources


def test_a_prefix_the_user_set_is_kept_and_without_the_variable_nothing_changes(
    tmp_path: Path,
) -> None:
    mine = str(tmp_path / "mine")
    env = bytecode_env({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": mine})
    assert env == {"PYTHONPYCACHEPREFIX": mine}
    assert bytecode_env({"PATH": "/bin"}) == {"PATH": "/bin"}
