"""The names of the pipelines this user ran or scheduled from a file.

A run of a pipeline file carries its pipeline's uuid, not its name, and the
stack knows names only of its projects' pipelines; so ``orchest run`` and
``orchest jobs create`` note each file's ``uuid -> name`` in
``<config>/pipelines.json`` (the newest ``KEEP``), and ``orchest runs``
shows the name from there when no project has it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .context import config_dir, read_strings

KEEP = 500


def _path() -> Path:
    return config_dir() / "pipelines.json"


def known() -> dict[str, str]:
    return read_strings(_path())


def note(definition: dict[str, Any]) -> None:
    """Remember the name of the pipeline ``definition`` (best effort: a
    configuration folder that cannot be written is no reason to fail a run)."""
    uuid, name = definition.get("uuid"), definition.get("name")
    if not isinstance(uuid, str) or not isinstance(name, str) or not name:
        return
    names = known()
    names.pop(uuid, None)
    names[uuid] = name
    try:
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(list(names.items())[-KEEP:]), indent=1))
        tmp.replace(path)
    except OSError:
        return
