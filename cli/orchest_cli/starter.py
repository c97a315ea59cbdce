"""``orchest init``: a folder made a project with an example pipeline."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from .errors import CliError

MAKE_DATA = '''"""Writes a small data set to the project's data folder."""
import json
import os
import random

rows = int(os.environ.get("ROWS", "20"))
random.seed(7)
values = [round(random.gauss(10, 3), 2) for _ in range(rows)]
os.makedirs("data", exist_ok=True)
with open("data/values.json", "w") as file:
    json.dump(values, file)
print(f"wrote {rows} values to data/values.json")
'''

SUMMARIZE = """# Reads what "Make data" wrote.
set -eu
count=$(python3 -c 'import json; print(len(json.load(open("data/values.json"))))')
echo "Make data wrote $count values"
"""


def _step(key: str, title: str, file_path: str, parents: list[str], x: int) -> dict[str, object]:
    return {
        "uuid": key,
        "title": title,
        "file_path": file_path,
        "incoming_connections": parents,
        "environment": "",
        "parameters": {},
        "kernel": {"display_name": "Python 3", "name": "python"},
        "meta_data": {"hidden": False, "position": [x, 80]},
    }


def write_starter(folder: Path, name: str) -> list[Path]:
    """Write the example pipeline (first) and its step files; nothing is
    overwritten (a file already there: a ``CliError``, nothing written)."""
    files = {
        folder / "pipeline.orchest": "",
        folder / "make_data.py": MAKE_DATA,
        folder / "summarize.sh": SUMMARIZE,
    }
    there = [str(path) for path in files if path.exists()]
    if there:
        raise CliError(f"{', '.join(there)} already there: init writes into a new folder")
    make, summarize = str(uuid.uuid4()), str(uuid.uuid4())
    definition = {
        "name": name,
        "uuid": str(uuid.uuid4()),
        "version": "1.0.0",
        "parameters": {},
        "settings": {"auto_eviction": False, "max_steps_parallelism": 0},
        "services": {},
        "steps": {
            make: _step(make, "Make data", "make_data.py", [], 80),
            summarize: _step(summarize, "Summarize", "summarize.sh", [make], 380),
        },
    }
    files[folder / "pipeline.orchest"] = json.dumps(definition, indent=2) + "\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text)
    except OSError as exc:
        raise CliError(f"{exc.filename or folder}: {exc.strerror}") from None
    return list(files)
