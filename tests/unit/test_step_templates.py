"""The step file templates call only what the Orchest SDK the steps run
with (``orchest==0.3.11``) has: a new step from a template runs as it is."""

from __future__ import annotations

import ast
import importlib
import json

import orchest
import pytest

from orchest_scheduler import step_templates


def sdk_calls(source: str) -> set[str]:
    """Every ``orchest.x.y`` named in ``source`` and every ``from orchest.x import y``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            parts = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id == "orchest":
                found.add(".".join(["orchest", *reversed(parts)]))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orchest"):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("source", ["python", "notebook"])
def test_the_python_templates_call_what_the_sdk_has(source: str) -> None:
    if source == "python":
        code = step_templates.content("python", None)
    else:
        document = json.loads(step_templates.content("notebook", "python3"))
        code = "".join(document["cells"][0]["source"])
    calls = sdk_calls(code)
    assert calls, code
    missing = sorted(c for c in calls if not resolves(c))
    assert missing == [], f"not in orchest {orchest.__version__}: {missing}"
    # A step made from a template may follow any step, one that output
    # nothing too: get_inputs() would then raise OutputNotFoundError.
    assert "orchest.get_inputs" not in calls
