"""A run's checks that depend on its definition alone, once per distinct
definition and selection.

``validate_definition``, ``select_steps`` and the rows of the run's steps
are pure functions of the definition (and the run type and selected steps);
an interactive pipeline is run again and again unchanged. The definition's
JSON (what ``DefinitionStore`` stores), with the run type and selection, is
the key here: a definition with the same JSON has the same checks' answers,
so a hit returns exactly what the checks would, and the store's key of the
definition, kept with them, is not hashed again (``DefinitionStore.keep``). The files
on disk are not a function of the definition: ``check_project_files`` runs
on every create. Bounded by entries and by the JSON's bytes held.

The same definition object (frozen: the scheduler parses a command's bytes
once and gives the same ``CreateRun`` for them again) is not encoded again
for its key: the last objects seen are held with their JSON (as many, and
as large, as the commands parsed once: ``ENCODED_ENTRIES``), so an
object's ``id`` cannot be another's while it is held here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.status import RunType

from .dag import Problem, run_parents, select_steps, validate_definition
from .definitions import encode_definition, key_of_json
from .run_store import NewStep

MAX_ENTRIES = 128
MAX_BYTES = 2 * 1024 * 1024
"""At most this much definition JSON is held (a large pipeline evicts others;
the rows and problems kept with it are of the same order)."""
ENCODED_ENTRIES = 64
ENCODED_MAX_BYTES = 64 * 1024
ENCODED_MAX_HELD = 256 * 1024
"""The definition objects held with their JSON: those of the commands the
scheduler parses once (``CreateRun.model_validate_json``), by the same bounds."""


@dataclass(frozen=True)
class Checked:
    """What a run of a definition's selection would be, or why it cannot be."""

    data: bytes
    """The definition's JSON (what ``DefinitionStore`` stores and keys)."""
    key: str
    """Its ``DefinitionStore`` key."""
    problems: tuple[Problem, ...]
    """The definition's problems, else the selection's; the rows are empty if any."""
    rows: tuple[NewStep, ...]
    """The run's steps, in the order they are planned (``step_rows``)."""


def step_rows(definition: PipelineDefinition, step_uuids: Sequence[str]) -> list[NewStep]:
    """The rows of a new run of these steps (validated, in a topological order)."""
    parents = run_parents(definition, step_uuids)
    settings = definition.settings
    rows = []
    for position, uuid in enumerate(step_uuids):
        step = definition.steps[uuid]
        rows.append(
            NewStep(
                uuid=uuid,
                title=step.title,
                file_path=step.file_path,
                position=position,
                parents=parents[uuid],
                max_retries=step.retries if step.retries is not None else settings.retries,
                retry_backoff=settings.retry_backoff_seconds,
                timeout_seconds=step.timeout_seconds or settings.timeout_seconds,
            )
        )
    return rows


def check(definition: PipelineDefinition, run_type: RunType, uuids: Sequence[str]) -> Checked:
    """The checks of a run, done now (``CheckedRuns.check`` without the cache)."""
    return _checked(encode_definition(definition), definition, run_type, uuids)


def _checked(
    data: bytes, definition: PipelineDefinition, run_type: RunType, uuids: Sequence[str]
) -> Checked:
    problems = validate_definition(definition)
    step_uuids: list[str] = []
    if not problems:
        step_uuids, problems = select_steps(definition, run_type, uuids)
    rows = () if problems else tuple(step_rows(definition, step_uuids))
    return Checked(data, key_of_json(data), tuple(problems), rows)


class CheckedRuns:
    """``check``, remembered for the most recent distinct requests (LRU)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._held = 0
        self._entries: OrderedDict[tuple[bytes, str, tuple[str, ...]], Checked] = OrderedDict()
        self._encoded: OrderedDict[int, tuple[PipelineDefinition, bytes]] = OrderedDict()
        """By the object's id: the object (held, so its id stays its own) and its JSON."""
        self._encoded_held = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def check(
        self, definition: PipelineDefinition, run_type: RunType, uuids: Sequence[str]
    ) -> Checked:
        data = self._encode(definition)
        key = (data, str(run_type), tuple(uuids))
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        found = _checked(data, definition, run_type, uuids)
        if len(data) <= self._max_bytes:
            self._entries[key] = found
            self._held += len(data)
            while len(self._entries) > self._max_entries or self._held > self._max_bytes:
                (old, _, _), _ = self._entries.popitem(last=False)
                self._held -= len(old)
        return found

    def _encode(self, definition: PipelineDefinition) -> bytes:
        """``encode_definition``, not done again for the objects seen lately."""
        held = self._encoded.get(id(definition))
        if held is not None:  # this very object: held, its id is no other's
            self._encoded.move_to_end(id(definition))
            return held[1]
        data = encode_definition(definition)
        if len(data) <= ENCODED_MAX_BYTES:
            self._encoded[id(definition)] = (definition, data)
            self._encoded_held += len(data)
            while len(self._encoded) > ENCODED_ENTRIES or self._encoded_held > ENCODED_MAX_HELD:
                _, (_, old) = self._encoded.popitem(last=False)
                self._encoded_held -= len(old)
        return data
