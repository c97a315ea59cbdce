#!/usr/bin/env python3
"""Writes tests/module_weights.json, the seconds each test module took, from
the JUnit XML report of a whole run (``make pytest PYTEST_ARGS=...`` with
``--junitxml=FILE``, or ``uv run pytest ... --junitxml=FILE``):

    scripts/test-weights.py FILE

A module's weight is the sum of its tests' times (set-up and teardown
included), rounded to the second. ``tests/conftest.py`` hands the modules to
the workers heaviest first within each tier, so that the longest ones do not
start last and end the run alone; a module the file does not name weighs
``DEFAULT_WEIGHT`` there. Run it again when modules come or change much.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "module_weights.json"


def weights(report: Path) -> dict[str, int]:
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        # classname: tests.e2e.test_cli_run (a class's tests: ...test_x.Class)
        parts = case.get("classname", "").split(".")
        while parts and not parts[-1].startswith("test_"):
            parts.pop()
        if parts:
            seconds["/".join(parts) + ".py"] += float(case.get("time", "0"))
    return {module: round(s) for module, s in sorted(seconds.items())}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    found = weights(Path(argv[0]))
    OUT.write_text(json.dumps(found, indent=1) + "\n")
    print(f"{OUT}: {len(found)} modules, {sum(found.values())} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
