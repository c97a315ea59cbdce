"""A pipeline file as the CLI reads it, and steps named the way people name
them: by title (any case), file path, uuid or uuid prefix."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CliError


def read_json(path: Path, hint: str = "") -> Any:
    """The JSON document of a file; a fault as a ``CliError`` naming the file
    and, for bad JSON, the line and column."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        raise CliError(f"{message}\n{hint}" if hint else message) from None


def read_definition(path: Path) -> dict[str, Any]:
    """The JSON object of a pipeline file (see ``read_json`` for its faults)."""
    document = read_json(
        path, "a pipeline file is a JSON object (see examples/quickstart/quickstart.orchest)"
    )
    if not isinstance(document, dict):
        kinds: dict[type, str] = {list: "an array", str: "a string"}
        kind = kinds.get(type(document), type(document).__name__)
        raise CliError(f"{path}: a pipeline file is a JSON object, not {kind}")
    return document


def shape_problems(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """What the API's model of a pipeline refuses in ``definition``:
    ``(where, what)`` pairs, as the API lists them."""
    from pydantic import ValidationError

    from orchest_schemas.pipeline import PipelineDefinition

    try:
        PipelineDefinition.model_validate(definition)
    except ValidationError as exc:
        return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    return []


@dataclass(frozen=True)
class StepName:
    uuid: str
    title: str
    file_path: str

    def __str__(self) -> str:
        return self.title or self.file_path or self.uuid


def definition_steps(definition: dict[str, Any]) -> list[StepName]:
    steps = definition.get("steps")
    if not isinstance(steps, dict):
        return []
    return [
        StepName(key, str(step.get("title") or ""), str(step.get("file_path") or ""))
        for key, step in steps.items()
        if isinstance(step, dict)
    ]


def find_step(steps: Sequence[StepName], name: str, where: str) -> StepName:
    """The one step ``name`` names: its uuid, title (as written, then in any
    case), file path or a uuid prefix, tried in that order; none or several:
    a ``CliError`` listing them."""
    tries: list[Callable[[StepName], bool]] = [
        lambda s: s.uuid == name,
        lambda s: s.title == name,
        lambda s: s.title.casefold() == name.casefold(),
        lambda s: s.file_path == name.removeprefix("./"),
        lambda s: s.uuid.startswith(name),
    ]
    for matches in ([s for s in steps if test(s)] for test in tries):
        if len(matches) == 1:
            return matches[0]
        if matches:
            listed = ", ".join(f"{s} ({s.uuid})" for s in matches)
            raise CliError(f"{name!r} names {len(matches)} steps of {where}: {listed}")
    known = ", ".join(str(s) for s in steps) or "none"
    raise CliError(f"{where} has no step {name!r} (its steps: {known})")


def step_uuids_named(steps: Sequence[StepName], names: Iterable[str], where: str) -> list[str]:
    """The uuids of the steps ``names`` name (for a run's ``uuids``)."""
    return [find_step(steps, name, where).uuid for name in names]


def titled(text: str, steps: Iterable[StepName]) -> str:
    """``text`` (a step's error, a reason) with each step uuid it names
    replaced by the step's title."""
    for step in steps:
        if step.title and len(step.uuid) >= 8 and step.uuid in text:
            text = text.replace(step.uuid, repr(step.title))
    return text
