"""The gateway's own limits on what a request may ask for.

Checked on the parsed document, beside the schema, so a request over a limit
is told every problem at once: more steps than ``ORCHEST_MAX_STEPS``, or a
parameters object (a pipeline's, a step's, a job's parameter set) whose JSON
is larger than ``ORCHEST_MAX_PARAMETERS_BYTES``. The body's size and depth
are limited in ``body.py``.

Sizes are measured only when the body could hold a parameters object over
the limit: the compact JSON of a part of a body is less than five times the
body's size (a number like ``1e15`` grows most: ``1000000000000000.0``).
"""

from __future__ import annotations

import json
from typing import Any

from orchest_schemas.errors import ErrorDetail

from .body import Check, Loc
from .settings import GatewaySettings


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def _parameters(value: Any, loc: Loc, what: str, settings: GatewaySettings) -> list[ErrorDetail]:
    if not value:
        return []
    size = json_size(value)
    if size <= settings.max_parameters_bytes:
        return []
    return [
        ErrorDetail(
            loc=loc,
            msg=f"{what} take {size} bytes as JSON; at most {settings.max_parameters_bytes}",
            type="parameters_too_large",
        )
    ]


def _sizes_matter(body_size: int, settings: GatewaySettings) -> bool:
    return 5 * body_size > settings.max_parameters_bytes


def definition_problems(
    definition: Any, loc: Loc, settings: GatewaySettings, sizes: bool = True
) -> list[ErrorDetail]:
    """Limits of a pipeline definition: its steps, and (with ``sizes``) its
    and their parameters."""
    if not isinstance(definition, dict):
        return []
    found: list[ErrorDetail] = []
    if sizes and "parameters" in definition:
        found += _parameters(
            definition["parameters"], [*loc, "parameters"], "the pipeline's parameters", settings
        )
    steps = definition.get("steps")
    if not isinstance(steps, dict):
        return found
    if len(steps) > settings.max_steps:
        found.append(
            ErrorDetail(
                loc=[*loc, "steps"],
                msg=f"{len(steps)} steps; a pipeline may have at most {settings.max_steps}",
                type="too_many_steps",
            )
        )
    for key, step in steps.items() if sizes else ():
        if isinstance(step, dict) and "parameters" in step:
            where = [*loc, "steps", key, "parameters"]
            found += _parameters(step["parameters"], where, "the step's parameters", settings)
    return found


def parameter_sets_problems(sets: Any, loc: Loc, settings: GatewaySettings) -> list[ErrorDetail]:
    """Limits of a job's parameter sets: each one's size."""
    if not isinstance(sets, list):
        return []
    found: list[ErrorDetail] = []
    for index, one in enumerate(sets):
        found += _parameters(one, [*loc, index], "the parameter set", settings)
    return found


def _field(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None


def run_limits(settings: GatewaySettings) -> Check:
    """The limits of a ``CreateRun`` body."""

    def check(document: Any, body_size: int) -> list[ErrorDetail]:
        sizes = _sizes_matter(body_size, settings)
        definition = _field(document, "pipeline_definition")
        return definition_problems(definition, ["pipeline_definition"], settings, sizes)

    return check


def job_limits(settings: GatewaySettings) -> Check:
    """The limits of a ``CreateJob`` body."""

    def check(document: Any, body_size: int) -> list[ErrorDetail]:
        sizes = _sizes_matter(body_size, settings)
        definition = _field(document, "pipeline_definition")
        found = definition_problems(definition, ["pipeline_definition"], settings, sizes)
        if sizes:
            sets = _field(document, "parameters")
            found += parameter_sets_problems(sets, ["parameters"], settings)
        return found

    return check


def job_update_limits(settings: GatewaySettings) -> Check:
    """The limits of a job change's body."""

    def check(document: Any, body_size: int) -> list[ErrorDetail]:
        if not _sizes_matter(body_size, settings):
            return []
        return parameter_sets_problems(_field(document, "parameters"), ["parameters"], settings)

    return check
