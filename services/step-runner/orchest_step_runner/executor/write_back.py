"""The executed notebook written back into the step's file, as Orchest did.

Orchest's runner wrote a notebook back into its file once every cell had run
(not when a cell failed), into the run's project: the project itself for an
interactive run, the run's snapshot for a job run. Here likewise, into the
run's project directory (a job run's is its own workspace, so the project is
never touched by a job), with these differences:

- atomically: a temporary file beside it, then a rename; its mode kept;
- not over a change: when the file's bytes are not those the run read (the
  user saved it, or removed it, while the step ran), nothing is written; the
  executed notebook stays the artifact ``executed.ipynb``, and the attempt
  also has the artifact ``not-written-back.txt`` saying why (so the step's
  event, which lists the artifacts, says so) and its log ends with that line;
- the parameters cell the executor injected is left out: the file keeps the
  cells it had, with their outputs.

A save by someone else between the last look at the file and the rename
could still be lost: that window is the time to read the file once and
compare it (the rename itself is atomic).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .base import ExecutionResult, OutputSink
from .injection import is_injected

NOT_WRITTEN_BACK = "not-written-back.txt"
"""The artifact saying why the executed notebook was not written back."""


def notebook_text(nb: NotebookNode) -> str:
    """As Jupyter saves a notebook (nbformat's layout, a final newline)."""
    text: str = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    return text if text.endswith("\n") else text + "\n"


def without_injected(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` without the parameters cell the executor injected."""
    kept = copy.deepcopy(nb)
    kept.cells = [cell for cell in kept.cells if not is_injected(cell)]
    return kept


def write_back(path: Path, original: bytes, nb: NotebookNode) -> str | None:
    """Replace ``path`` by ``nb`` if it still holds ``original``; ``None`` when
    written, else why not. Blocking."""
    text = notebook_text(without_injected(nb)).encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.orchest-tmp")
    try:
        if _changed(path, original):
            return "it changed during the run"
        mode = path.stat().st_mode & 0o7777
        with open(tmp, "xb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if _changed(path, original):  # again, just before the rename
            return "it changed during the run"
        os.replace(tmp, path)
    except FileNotFoundError:
        return "it was removed during the run"
    except OSError as exc:
        return f"it could not be written ({exc.strerror or exc})"
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return None


def _changed(path: Path, original: bytes) -> bool:
    return path.read_bytes() != original


@dataclass(frozen=True)
class StepNotebook:
    """A notebook step's file: where, the bytes it was read from, the notebook
    (run in place by the executor)."""

    path: Path
    """As the runner sees it."""
    file_path: str
    """As the pipeline names it (for messages)."""
    original: bytes
    nb: NotebookNode


async def write_back_executed(
    result: ExecutionResult, notebook: StepNotebook, output: OutputSink
) -> ExecutionResult:
    """After a notebook attempt: write the notebook back into its file when
    every cell ran; when that is not done, say so in the log and in an artifact."""
    if not result.succeeded:
        return result
    reason = await asyncio.to_thread(write_back, notebook.path, notebook.original, notebook.nb)
    if reason is None:
        return result
    note = (
        f"The executed notebook was not written back into {notebook.file_path}: {reason}; "
        "it is the artifact executed.ipynb.\n"
    )
    await output(note)
    artifacts = {**result.artifacts, NOT_WRITTEN_BACK: note.encode()}
    return ExecutionResult(result.exit_code, result.error, artifacts=artifacts)
