"""The runs table: a run is created in one statement with its steps, events
and outgoing messages (``create_run``, guarded by its idempotency key), and
read back whole on a cache miss (``load_run``) or as the API shows it.

Every later write to a run is a decision (``plan_store.write_plan``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.runs import RunView
from orchest_schemas.status import RunStatus, RunType, StepStatus

from .outbox_store import OutboxRow
from .run_state import RunState, StepState
from .sql import Connection, Query


@dataclass(frozen=True)
class NewStep:
    uuid: str
    title: str
    file_path: str
    position: int
    parents: tuple[str, ...]
    max_retries: int
    retry_backoff: float
    timeout_seconds: float | None


@dataclass
class RunRecord:
    """What the scheduler keeps of a run beyond its state."""

    uuid: str
    pipeline_uuid: str
    project_uuid: str | None
    job_uuid: str | None
    project_dir: str
    env_variables: dict[str, str]
    definition: PipelineDefinition
    definition_key: str
    version: int
    """Bumped by every write: a cached state of the same version is current."""
    event_seq: int
    timeouts: dict[str, float | None]


@dataclass(frozen=True)
class JobRunPlace:
    """Where a job's run sits: the execution that made it and its parameter set.
    The run waits (not admitted) until the job admission lets it start."""

    job_run_index: int
    pipeline_run_index: int
    parameters: dict[str, Any]


@dataclass(frozen=True)
class EventRow:
    event_id: str
    kind: str
    sequence: int | None
    payload: str


def logged_and_sent(reports: bool = False) -> str:
    """The ``events`` and ``out`` parts of a statement that writes a run (its
    part ``run`` returns the run's uuid if it wrote it): the run's events
    logged, its messages put in the outbox (one row, in order), with the
    parameters of ``event_arrays`` and ``outbox_arrays``, ``:now`` the events'
    time.

    With ``reports``, the rows without a sequence are applied reports, keyed
    by their ``report_id``, which a report sent twice shares: they are
    inserted apart, skipping an id already there (``ON CONFLICT``; a
    speculative insertion, which costs a WAL record more per row). Status
    events need no such check: their ids are new at every decision (one
    decided again gets new ones), so a duplicate cannot occur."""
    status_events = "AND e.sequence IS NOT NULL" if reports else ""
    logged = f"""events AS (
    INSERT INTO event_log (event_id, kind, run_uuid, sequence, occurred_at, payload)
    SELECT e.event_id, e.kind, (SELECT uuid FROM run), e.sequence, :now, e.payload::jsonb
    FROM unnest(:event_ids::text[], :event_kinds::text[], :event_sequences::int[],
        :event_payloads::text[])
        AS e(event_id, kind, sequence, payload)
    WHERE EXISTS (SELECT 1 FROM run) {status_events}
    RETURNING 1
)"""
    if reports:
        logged += """, reports AS (
    INSERT INTO event_log (event_id, kind, run_uuid, sequence, occurred_at, payload)
    SELECT e.event_id, e.kind, (SELECT uuid FROM run), NULL, :now, e.payload::jsonb
    FROM unnest(:event_ids::text[], :event_kinds::text[], :event_sequences::int[],
        :event_payloads::text[])
        AS e(event_id, kind, sequence, payload)
    WHERE EXISTS (SELECT 1 FROM run) AND e.sequence IS NULL
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
)"""
    return (
        logged
        + """, out AS (
    INSERT INTO outbox (subjects, msg_ids, payloads, jetstream)
    SELECT :out_subjects::text[], :out_msg_ids::text[], :out_payloads::bytea[],
        :out_jetstream::bool[]
    WHERE EXISTS (SELECT 1 FROM run) AND cardinality(:out_subjects::text[]) > 0
    RETURNING id
)"""
    )


def what_was_written(written: str) -> str:
    """The answer of a statement that writes a run, its steps and
    ``logged_and_sent``: whether it wrote the run (column ``written``), the
    outbox row's id (none without messages), the count of step and event rows written."""
    return f"""SELECT EXISTS (SELECT 1 FROM run) AS {written},
    ARRAY(SELECT id FROM out ORDER BY id) AS ids,
    (SELECT count(*) FROM steps) + (SELECT count(*) FROM events) AS written"""


def outbox_ids(row: Any, written: str, messages: int) -> list[int] | None:
    """The outbox id of each of the ``messages`` a run's write stored (one row
    holds them all: the same id for each); None when its ``written`` column
    says the run was not written (nothing was)."""
    assert row is not None
    if not row[written]:
        return None
    return [row["ids"][0]] * messages if messages else []


def event_arrays(events: Sequence[EventRow]) -> dict[str, list[Any]]:
    """The ``event_*`` parameters of a statement that logs ``events``."""
    return {
        "event_ids": [e.event_id for e in events],
        "event_kinds": [e.kind for e in events],
        "event_sequences": [e.sequence for e in events],
        "event_payloads": [e.payload for e in events],
    }


def outbox_arrays(outbox: Sequence[OutboxRow]) -> dict[str, list[Any]]:
    """The ``out_*`` parameters of a statement that writes ``outbox`` rows."""
    return {
        "out_subjects": [o.subject for o in outbox],
        "out_msg_ids": [o.msg_id for o in outbox],
        "out_payloads": [o.payload for o in outbox],
        "out_jetstream": [o.jetstream for o in outbox],
    }


async def find_run_by_key(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval("SELECT uuid::text FROM runs WHERE idempotency_key = $1", key)
    return str(value) if value is not None else None


_CREATE_RUN = Query(f"""
WITH run AS (
    INSERT INTO runs (uuid, pipeline_uuid, project_uuid, job_uuid, run_type, status,
        pipeline_definition, project_dir, env_variables, idempotency_key, event_seq, version,
        created_time, definition_key, admitted, job_run_index, job_run_pipeline_run_index,
        parameters)
    VALUES (:uuid, :pipeline_uuid, :project_uuid, :job_uuid, :run_type, 'PENDING',
        :definition::jsonb, :project_dir, :env_variables::jsonb, :idempotency_key, :event_seq, 1,
        :now, :definition_key, :admitted, :job_run_index, :job_run_pipeline_run_index,
        :parameters::jsonb)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING uuid
), steps AS (
    INSERT INTO run_steps (run_uuid, step_uuid, title, file_path, position, parents, status,
        attempt, dispatched, max_retries, retry_backoff, timeout_seconds, work_attempt)
    SELECT (SELECT uuid FROM run), u.step_uuid, u.title, u.file_path, u.position,
        ARRAY(SELECT jsonb_array_elements_text(u.parents::jsonb)), u.status, u.attempt,
        u.dispatched, u.max_retries, u.retry_backoff, u.timeout_seconds, u.work_attempt
    FROM unnest(:step_uuids::text[], :titles::text[], :file_paths::text[], :positions::int[],
        :parents::text[], :statuses::text[], :attempts::int[], :dispatched::bool[],
        :max_retries::int[], :retry_backoffs::float8[], :timeouts::float8[],
        :work_attempts::int[])
        AS u(step_uuid, title, file_path, position, parents, status, attempt, dispatched,
             max_retries, retry_backoff, timeout_seconds, work_attempt)
    WHERE EXISTS (SELECT 1 FROM run)
    RETURNING 1
), {logged_and_sent()}
{what_was_written("created")}
""")


async def create_run(
    conn: Connection,
    *,
    record: RunRecord,
    run_type: RunType,
    idempotency_key: str | None,
    steps: Sequence[NewStep],
    state: RunState,
    events: Sequence[EventRow],
    outbox: Sequence[OutboxRow],
    now: datetime,
    job_place: JobRunPlace | None = None,
    definition_json: bytes | None = None,
) -> list[int] | None:
    """Insert the run, its steps, events and outgoing messages in one statement;
    None (and nothing written) when the idempotency key is taken.
    ``definition_json``: the definition's ``encode_definition`` already made
    (the create's checks made it), else encoded here."""
    states = [state.steps[s.uuid] for s in steps]
    row = await _CREATE_RUN.fetchrow(
        conn,
        uuid=record.uuid,
        pipeline_uuid=record.pipeline_uuid,
        project_uuid=record.project_uuid,
        job_uuid=record.job_uuid,
        run_type=run_type.value,
        definition=(
            definition_json.decode()
            if definition_json is not None
            else record.definition.model_dump_json(exclude_unset=True)
        ),
        definition_key=record.definition_key,
        project_dir=record.project_dir,
        env_variables=json.dumps(record.env_variables),
        idempotency_key=idempotency_key,
        event_seq=record.event_seq,
        now=now,
        admitted=job_place is None,
        job_run_index=job_place.job_run_index if job_place else None,
        job_run_pipeline_run_index=job_place.pipeline_run_index if job_place else None,
        parameters=json.dumps(job_place.parameters) if job_place else None,
        step_uuids=[s.uuid for s in steps],
        titles=[s.title for s in steps],
        file_paths=[s.file_path for s in steps],
        positions=[s.position for s in steps],
        parents=[json.dumps(list(s.parents)) for s in steps],
        statuses=[s.status.value for s in states],
        attempts=[s.attempt for s in states],
        dispatched=[s.dispatched for s in states],
        work_attempts=[s.work_attempt for s in states],
        max_retries=[s.max_retries for s in steps],
        retry_backoffs=[s.retry_backoff for s in steps],
        timeouts=[s.timeout_seconds for s in steps],
        **event_arrays(events),
        **outbox_arrays(outbox),
    )
    return outbox_ids(row, "created", len(outbox))


async def load_run(conn: Connection, run_uuid: str) -> tuple[RunRecord, RunState] | None:
    """A run's record and state, from the tables (a cache miss)."""
    row = await conn.fetchrow(
        "SELECT uuid::text, pipeline_uuid, project_uuid, job_uuid::text, project_dir,"
        " env_variables, pipeline_definition, definition_key, event_seq, version, status,"
        " abort_requested FROM runs WHERE uuid = $1",
        run_uuid,
    )
    if row is None:
        return None
    rows = await conn.fetch(
        "SELECT step_uuid, parents, status, attempt, dispatched,"
        " retry_at IS NOT NULL AS retry_wait, max_retries, retry_backoff, runner_id,"
        " lost_leases, timeout_seconds, work_attempt, lease_seconds, handed_by"
        " FROM run_steps WHERE run_uuid = $1 ORDER BY position",
        run_uuid,
    )
    definition = PipelineDefinition.model_validate_json(row["pipeline_definition"])
    record = RunRecord(
        uuid=row["uuid"],
        pipeline_uuid=row["pipeline_uuid"],
        project_uuid=row["project_uuid"],
        job_uuid=row["job_uuid"],
        project_dir=row["project_dir"],
        env_variables=json.loads(row["env_variables"]),
        definition=definition,
        definition_key=row["definition_key"],
        version=row["version"],
        event_seq=row["event_seq"],
        timeouts={r["step_uuid"]: r["timeout_seconds"] for r in rows},
    )
    state = RunState(
        status=RunStatus(row["status"]),
        steps={
            r["step_uuid"]: StepState(
                uuid=r["step_uuid"],
                parents=tuple(r["parents"]),
                status=StepStatus(r["status"]),
                attempt=r["attempt"],
                dispatched=r["dispatched"],
                retry_wait=r["retry_wait"],
                max_retries=r["max_retries"],
                retry_backoff=r["retry_backoff"],
                runner_id=r["runner_id"],
                lost_leases=r["lost_leases"],
                work_attempt=r["work_attempt"],
                lease_seconds=r["lease_seconds"],
                handed_by=r["handed_by"],
            )
            for r in rows
        },
        fail_fast=definition.settings.fail_fast,
        max_parallel=definition.settings.max_steps_parallelism,
        max_lost_leases=definition.settings.max_lost_leases,
        abort_requested=row["abort_requested"],
    )
    return record, state


async def run_version(conn: Connection, run_uuid: str) -> int | None:
    value: int | None = await conn.fetchval("SELECT version FROM runs WHERE uuid = $1", run_uuid)
    return value


# -- reads (the gateway has its own, over the same tables) -------------------------

RUN_VIEW_COLUMNS = (
    "uuid::text, pipeline_uuid, project_uuid, job_uuid::text, run_type, status,"
    " created_time, started_time, finished_time, job_run_index, job_run_pipeline_run_index,"
    " parameters"
)


async def fetch_run_view(conn: Connection, run_uuid: str) -> RunView | None:
    """The run as the API shows it (columns named as the view's fields)."""
    run = await conn.fetchrow(
        f"SELECT {RUN_VIEW_COLUMNS} FROM runs WHERE uuid = $1",
        run_uuid,
    )
    if run is None:
        return None
    steps = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, title, file_path, status, attempt, started_time,"
        " finished_time, exit_code, error,"
        " ARRAY(SELECT jsonb_array_elements_text(artifacts)) AS artifacts"
        " FROM run_steps WHERE run_uuid = $1 ORDER BY position",
        run_uuid,
    )
    parameters = run["parameters"]
    return RunView.model_validate(
        {
            **run,
            "parameters": json.loads(parameters) if parameters is not None else None,
            "pipeline_steps": [dict(s) for s in steps],
        }
    )
