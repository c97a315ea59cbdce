"""A session's kernelspecs, written from the templates in the repository's ``kernels/``.

A template is a kernelspec directory whose ``kernel.json`` may hold
``@NAME@`` tokens in its strings (``@PYTHON@``: the kernel's interpreter);
they are filled in when a session is launched, so what a session's
Enterprise Gateway reads is exactly what it runs. ``{connection_file}`` and
the like stay for Jupyter to fill.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KERNELS_DIR = Path(__file__).resolve().parents[4] / "kernels"
"""The repository's ``kernels/``: one folder of templates per runtime."""

_TOKEN = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def write_kernelspecs(
    templates: Path,
    target: Path,
    values: Mapping[str, str],
    rename: Mapping[str, str] | None = None,
) -> list[str]:
    """Copy every kernelspec of ``templates`` into ``target`` (a ``kernels``
    directory), tokens filled from ``values``; return the kernel names.
    ``rename`` writes a template under another kernel name (its display name
    then says which).

    Raises ``ValueError`` for a token without a value.
    """
    names = []
    for source in sorted(p for p in templates.iterdir() if (p / "kernel.json").is_file()):
        name = (rename or {}).get(source.name, source.name)
        dest = target / name
        shutil.copytree(source, dest, dirs_exist_ok=True)
        spec = json.loads((source / "kernel.json").read_text())
        filled = _fill(spec, values, source.name)
        if name != source.name:
            filled["display_name"] = f"{filled.get('display_name', source.name)} ({name})"
        (dest / "kernel.json").write_text(json.dumps(filled, indent=2) + "\n")
        names.append(name)
    return names


def _fill(node: Any, values: Mapping[str, str], kernel: str) -> Any:
    if isinstance(node, str):

        def value(match: re.Match[str]) -> str:
            if match.group(1) not in values:
                raise ValueError(f"kernelspec {kernel}: no value for @{match.group(1)}@")
            return values[match.group(1)]

        return _TOKEN.sub(value, node)
    if isinstance(node, list):
        return [_fill(item, values, kernel) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values, kernel) for key, item in node.items()}
    return node
