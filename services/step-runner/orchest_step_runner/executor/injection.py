"""Notebook parameters injected the way papermill does it.

A code cell tagged ``injected-parameters`` goes right after the first cell
tagged ``parameters`` (so it overrides that cell's defaults), or first when no
cell is tagged. A cell injected by an earlier run is replaced.
"""

from __future__ import annotations

import keyword
from typing import Any

import nbformat
from nbformat import NotebookNode

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def _tags(cell: NotebookNode) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return list(tags) if isinstance(tags, list) else []


def is_injected(cell: NotebookNode) -> bool:
    """The parameters cell the executor injected."""
    return INJECTED_TAG in _tags(cell)


def parameters_source(parameters: dict[str, Any]) -> str:
    """One ``name = repr(value)`` line per parameter; names that are not Python
    identifiers cannot be assigned and are listed in a comment instead."""
    lines = ["# Parameters"]
    skipped = []
    for name, value in parameters.items():
        if name.isidentifier() and not keyword.iskeyword(name):
            lines.append(f"{name} = {value!r}")
        else:
            skipped.append(name)
    if skipped:
        lines.append(f"# Not Python names, not injected: {', '.join(map(repr, skipped))}")
    return "\n".join(lines) + "\n"


def inject_parameters(nb: NotebookNode, parameters: dict[str, Any]) -> int | None:
    """Insert the parameters cell into ``nb`` (in place); returns its index, or
    ``None`` when there are no parameters (and nothing is injected)."""
    nb.cells = [cell for cell in nb.cells if not is_injected(cell)]
    if not parameters:
        return None
    cell: NotebookNode = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
        source=parameters_source(parameters), metadata={"tags": [INJECTED_TAG]}
    )
    if nb.get("nbformat_minor", 0) < 5:  # cell ids came with nbformat 4.5
        del cell["id"]
    index = next(
        (position + 1 for position, c in enumerate(nb.cells) if PARAMETERS_TAG in _tags(c)), 0
    )
    nb.cells.insert(index, cell)
    return index
