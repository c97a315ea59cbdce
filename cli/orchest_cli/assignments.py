"""``KEY=VALUE`` options: ``--env`` (a run's or job's env variables) and
``--param`` (pipeline parameters, overriding the pipeline file's)."""

from __future__ import annotations

import json
import re
from typing import Any

import click

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _split(value: str, option: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
    return key, rest


def env_variables(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """``--env KEY=VALUE`` (repeatable): names as a shell takes them; the last wins."""
    variables: dict[str, str] = {}
    for value in values:
        key, rest = _split(value, "--env")
        if not ENV_NAME.fullmatch(key):
            raise click.BadParameter(
                f"{key!r} is not a variable name (letters, digits, _; not starting with a digit)",
                param_hint="--env",
            )
        variables[key] = rest
    return variables


def pipeline_parameters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    """``--param NAME=VALUE`` (repeatable): VALUE as JSON when it is JSON
    (``3``, ``true``, ``[1, 2]``, ``"x"``), else the text as it is."""
    parameters: dict[str, Any] = {}
    for value in values:
        key, rest = _split(value, "--param")
        try:
            parameters[key] = json.loads(rest)
        except ValueError:
            parameters[key] = rest
    return parameters


def with_parameters(definition: Any, parameters: dict[str, Any]) -> Any:
    """The pipeline definition with ``parameters`` over its own (a copy)."""
    if not parameters or not isinstance(definition, dict):
        return definition
    own = definition.get("parameters")
    merged = {**own, **parameters} if isinstance(own, dict) else dict(parameters)
    return {**definition, "parameters": merged}
