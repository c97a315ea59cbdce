"""Environment definitions as Orchest keeps them in a project:
``.orchest/environments/<uuid>/properties.json`` and ``setup_script.sh``.
Blocking file I/O: the projects owner calls these in a thread. Each file is
written atomically (``pipeline_files.write_atomically``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchest_schemas.environments import EnvironmentSpec, EnvironmentView
from orchest_schemas.errors import ErrorDetail
from orchest_service.commands import validation_details

from .pipeline_files import write_atomically

ENVIRONMENTS_DIR = Path(".orchest") / "environments"
PROPERTIES = "properties.json"
SETUP_SCRIPT = "setup_script.sh"
MAX_ENVIRONMENTS = 200
MAX_PROPERTIES_BYTES = 64 * 1024


def folder_of(project_dir: Path, environment_uuid: str) -> Path:
    return project_dir / ENVIRONMENTS_DIR / environment_uuid


def list_environments(project_dir: Path, project_uuid: str) -> list[EnvironmentView]:
    root = project_dir / ENVIRONMENTS_DIR
    if not root.is_dir():
        return []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    views = [read_environment(project_dir, project_uuid, f.name) for f in folders]
    return [v for v in views if v is not None][:MAX_ENVIRONMENTS]


def read_environment(
    project_dir: Path, project_uuid: str, environment_uuid: str
) -> EnvironmentView | None:
    """The environment of that folder (its ``problems`` when its files are
    not readable); None when there is no such folder."""
    folder = folder_of(project_dir, environment_uuid)
    if not folder.is_dir():
        return None
    base = {"uuid": environment_uuid, "project_uuid": project_uuid, "project_dir": str(project_dir)}
    problems: list[ErrorDetail] = []
    properties: dict[str, Any] = {}
    try:
        raw = (folder / PROPERTIES).read_bytes()[:MAX_PROPERTIES_BYTES]
        loaded = json.loads(raw)
        if isinstance(loaded, dict):
            properties = loaded
        else:
            problems.append(_problem(PROPERTIES, "is not a JSON object"))
    except FileNotFoundError:
        problems.append(_problem(PROPERTIES, "is missing"))
    except (OSError, ValueError) as exc:
        problems.append(_problem(PROPERTIES, f"cannot be read: {exc}"))
    try:
        script = (folder / SETUP_SCRIPT).read_text(errors="replace")
    except FileNotFoundError:
        script = ""
    except OSError as exc:
        script = ""
        problems.append(_problem(SETUP_SCRIPT, f"cannot be read: {exc}"))
    fields = {k: properties[k] for k in EnvironmentSpec.model_fields if k in properties}
    fields.setdefault("name", environment_uuid)
    if fields.get("env_variables") is None:
        fields.pop("env_variables", None)
    try:
        spec = EnvironmentSpec.model_validate({**fields, "setup_script": script})
    except ValidationError as exc:
        problems += [
            ErrorDetail(loc=[PROPERTIES, *d.loc], msg=d.msg, type=d.type)
            for d in validation_details(exc)
        ]
        name = str(properties.get("name") or environment_uuid)
        return EnvironmentView(**base, name=name, setup_script=script, problems=problems)
    return EnvironmentView(**base, **spec.model_dump(), problems=problems)


def write_environment(project_dir: Path, environment_uuid: str, spec: EnvironmentSpec) -> None:
    folder = folder_of(project_dir, environment_uuid)
    folder.mkdir(parents=True, exist_ok=True)
    properties = {"uuid": environment_uuid, **spec.model_dump(exclude={"setup_script"})}
    write_atomically(folder / PROPERTIES, (json.dumps(properties, indent=4) + "\n").encode())
    write_atomically(folder / SETUP_SCRIPT, spec.setup_script.encode())


def delete_environment(project_dir: Path, environment_uuid: str) -> None:
    shutil.rmtree(folder_of(project_dir, environment_uuid), ignore_errors=True)


def _problem(file: str, message: str) -> ErrorDetail:
    return ErrorDetail(loc=[file], msg=f"{file} {message}", type="value_error")
