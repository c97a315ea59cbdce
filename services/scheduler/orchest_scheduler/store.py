"""The scheduler's tables: every SQL statement it runs is here.

A decision is written by one statement (``write_plan``: the run, its steps,
its events, the outgoing messages), guarded by the run's ``version``: if
another writer (another scheduler replica) changed the run since it was
read, nothing is written and the caller reloads and decides again. A run is
created the same way (``create_run``), guarded by its idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from orchest_schemas.pipeline import PipelineDefinition
from orchest_schemas.runs import RunView
from orchest_schemas.status import RunStatus, RunType, StepStatus

from .engine import RunState, StepState
from .outbox_store import OutboxRow

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


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
class StepRow:
    """A step's new row; ``mode`` says which times and outcome to stamp:
    ``start`` (started now), ``final`` (ended now, with the outcome), ``reset``
    (a new attempt waits), ``keep`` (only scheduling fields changed)."""

    step_uuid: str
    status: str
    attempt: int
    dispatched: bool
    retry_at: datetime | None
    runner_id: str | None
    lost_leases: int
    work_attempt: int
    lease_seconds: float
    """A ``start`` row's lease: it lapses this long after ``now`` unless renewed."""
    mode: str
    exit_code: int | None
    error: str | None
    artifacts: str


@dataclass(frozen=True)
class EventRow:
    event_id: str
    kind: str
    sequence: int | None
    payload: str


async def find_run_by_key(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval("SELECT uuid::text FROM runs WHERE idempotency_key = $1", key)
    return str(value) if value is not None else None


_CREATE_RUN = """
WITH run AS (
    INSERT INTO runs (uuid, pipeline_uuid, project_uuid, job_uuid, run_type, status,
        pipeline_definition, project_dir, env_variables, idempotency_key, event_seq, version,
        created_time, definition_key, admitted, job_run_index, job_run_pipeline_run_index,
        parameters)
    VALUES ($1, $2, $3, $4, $5, 'PENDING', $6::jsonb, $7, $8::jsonb, $9, $10, 1, $11, $31,
        $32, $33, $34, $35::jsonb)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING uuid
), steps AS (
    INSERT INTO run_steps (run_uuid, step_uuid, title, file_path, position, parents, status,
        attempt, dispatched, max_retries, retry_backoff, timeout_seconds, work_attempt)
    SELECT (SELECT uuid FROM run), u.step_uuid, u.title, u.file_path, u.position,
        ARRAY(SELECT jsonb_array_elements_text(u.parents::jsonb)), u.status, u.attempt,
        u.dispatched, u.max_retries, u.retry_backoff, u.timeout_seconds, u.work_attempt
    FROM unnest($12::text[], $13::text[], $14::text[], $15::int[], $16::text[], $17::text[],
        $18::int[], $19::bool[], $20::int[], $21::float8[], $22::float8[], $36::int[])
        AS u(step_uuid, title, file_path, position, parents, status, attempt, dispatched,
             max_retries, retry_backoff, timeout_seconds, work_attempt)
    WHERE EXISTS (SELECT 1 FROM run)
    RETURNING 1
), events AS (
    INSERT INTO event_log (event_id, kind, run_uuid, sequence, occurred_at, payload)
    SELECT e.event_id, e.kind, (SELECT uuid FROM run), e.sequence, $11, e.payload::jsonb
    FROM unnest($23::text[], $24::text[], $25::int[], $26::text[])
        AS e(event_id, kind, sequence, payload)
    WHERE EXISTS (SELECT 1 FROM run)
    RETURNING 1
), out AS (
    INSERT INTO outbox (subject, msg_id, payload, jetstream)
    SELECT o.subject, o.msg_id, o.payload, o.jetstream
    FROM unnest($27::text[], $28::text[], $29::bytea[], $30::bool[]) WITH ORDINALITY
        AS o(subject, msg_id, payload, jetstream, n)
    WHERE EXISTS (SELECT 1 FROM run)
    ORDER BY o.n
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM run) AS created, ARRAY(SELECT id FROM out ORDER BY id) AS ids,
    (SELECT count(*) FROM steps) + (SELECT count(*) FROM events) AS written
"""


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
) -> list[int] | None:
    """Insert the run, its steps, events and outgoing messages in one statement;
    None (and nothing written) when the idempotency key is taken."""
    row = await conn.fetchrow(
        _CREATE_RUN,
        record.uuid,
        record.pipeline_uuid,
        record.project_uuid,
        record.job_uuid,
        run_type.value,
        record.definition.model_dump_json(exclude_unset=True),
        record.project_dir,
        json.dumps(record.env_variables),
        idempotency_key,
        record.event_seq,
        now,
        [s.uuid for s in steps],
        [s.title for s in steps],
        [s.file_path for s in steps],
        [s.position for s in steps],
        [json.dumps(list(s.parents)) for s in steps],
        [state.steps[s.uuid].status.value for s in steps],
        [state.steps[s.uuid].attempt for s in steps],
        [state.steps[s.uuid].dispatched for s in steps],
        [s.max_retries for s in steps],
        [s.retry_backoff for s in steps],
        [s.timeout_seconds for s in steps],
        *_event_columns(events),
        *_outbox_columns(outbox),
        record.definition_key,
        job_place is None,
        job_place.job_run_index if job_place else None,
        job_place.pipeline_run_index if job_place else None,
        json.dumps(job_place.parameters) if job_place else None,
        [state.steps[s.uuid].work_attempt for s in steps],
    )
    assert row is not None
    if not row["created"]:
        return None
    return list(row["ids"])


_WRITE_PLAN = """
WITH run AS (
    UPDATE runs SET version = version + 1, event_seq = $3, abort_requested = $4,
        status = COALESCE($5, status),
        started_time = CASE WHEN $5 = 'STARTED' THEN $6 ELSE started_time END,
        finished_time = CASE WHEN $5 IN ('SUCCESS', 'FAILURE', 'ABORTED') THEN $6
            ELSE finished_time END
    WHERE uuid = $1 AND version = $2
    RETURNING uuid
), steps AS (
    UPDATE run_steps AS s SET status = u.status, attempt = u.attempt,
        dispatched = u.dispatched, retry_at = u.retry_at, runner_id = u.runner_id,
        lost_leases = u.lost_leases, work_attempt = u.work_attempt,
        lease_seconds = CASE u.mode WHEN 'start' THEN u.lease_seconds ELSE s.lease_seconds END,
        lease_expires_at = CASE u.mode
            WHEN 'start' THEN $6::timestamptz + u.lease_seconds * interval '1 second'
            WHEN 'keep' THEN s.lease_expires_at ELSE NULL END,
        started_time = CASE u.mode WHEN 'start' THEN $6 WHEN 'reset' THEN NULL
            ELSE s.started_time END,
        finished_time = CASE u.mode WHEN 'final' THEN $6 WHEN 'keep' THEN s.finished_time
            ELSE NULL END,
        exit_code = CASE u.mode WHEN 'final' THEN u.exit_code WHEN 'keep' THEN s.exit_code
            ELSE NULL END,
        error = CASE u.mode WHEN 'final' THEN u.error WHEN 'keep' THEN s.error ELSE NULL END,
        artifacts = CASE u.mode WHEN 'keep' THEN s.artifacts ELSE u.artifacts::jsonb END
    FROM unnest($7::text[], $8::text[], $9::int[], $10::bool[], $11::timestamptz[],
        $12::text[], $13::int[], $14::text[], $15::int[], $16::text[], $17::text[],
        $26::int[], $27::float8[])
        AS u(step_uuid, status, attempt, dispatched, retry_at, runner_id, lost_leases, mode,
             exit_code, error, artifacts, work_attempt, lease_seconds)
    WHERE s.run_uuid = (SELECT uuid FROM run) AND s.step_uuid = u.step_uuid
    RETURNING 1
), events AS (
    INSERT INTO event_log (event_id, kind, run_uuid, sequence, occurred_at, payload)
    SELECT e.event_id, e.kind, (SELECT uuid FROM run), e.sequence, $6, e.payload::jsonb
    FROM unnest($18::text[], $19::text[], $20::int[], $21::text[])
        AS e(event_id, kind, sequence, payload)
    WHERE EXISTS (SELECT 1 FROM run)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), out AS (
    INSERT INTO outbox (subject, msg_id, payload, jetstream)
    SELECT o.subject, o.msg_id, o.payload, o.jetstream
    FROM unnest($22::text[], $23::text[], $24::bytea[], $25::bool[]) WITH ORDINALITY
        AS o(subject, msg_id, payload, jetstream, n)
    WHERE EXISTS (SELECT 1 FROM run)
    ORDER BY o.n
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM run) AS applied, ARRAY(SELECT id FROM out ORDER BY id) AS ids,
    (SELECT count(*) FROM steps) + (SELECT count(*) FROM events) AS written
"""


async def write_plan(
    conn: Connection,
    *,
    run_uuid: str,
    expected_version: int,
    run_status: RunStatus | None,
    abort_requested: bool,
    event_seq: int,
    steps: Sequence[StepRow],
    events: Sequence[EventRow],
    outbox: Sequence[OutboxRow],
    now: datetime,
) -> list[int] | None:
    """Apply a decision; None when the run's version moved on (nothing written)."""
    row = await conn.fetchrow(
        _WRITE_PLAN,
        run_uuid,
        expected_version,
        event_seq,
        abort_requested,
        run_status.value if run_status is not None else None,
        now,
        [s.step_uuid for s in steps],
        [s.status for s in steps],
        [s.attempt for s in steps],
        [s.dispatched for s in steps],
        [s.retry_at for s in steps],
        [s.runner_id for s in steps],
        [s.lost_leases for s in steps],
        [s.mode for s in steps],
        [s.exit_code for s in steps],
        [s.error for s in steps],
        [s.artifacts for s in steps],
        *_event_columns(events),
        *_outbox_columns(outbox),
        [s.work_attempt for s in steps],
        [s.lease_seconds for s in steps],
    )
    assert row is not None
    if not row["applied"]:
        return None
    return list(row["ids"])


def _event_columns(events: Sequence[EventRow]) -> tuple[list[Any], ...]:
    return (
        [e.event_id for e in events],
        [e.kind for e in events],
        [e.sequence for e in events],
        [e.payload for e in events],
    )


def _outbox_columns(outbox: Sequence[OutboxRow]) -> tuple[list[Any], ...]:
    return (
        [o.subject for o in outbox],
        [o.msg_id for o in outbox],
        [o.payload for o in outbox],
        [o.jetstream for o in outbox],
    )


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
        " lost_leases, timeout_seconds, work_attempt, lease_seconds"
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


async def steps_waiting_retry(
    conn: Connection, due_by: datetime | None = None
) -> list[tuple[str, str, int, datetime]]:
    """Steps waiting for a retry (those due by ``due_by`` when given)."""
    rows = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, attempt, retry_at FROM run_steps"
        " WHERE retry_at IS NOT NULL AND status = 'PENDING'"
        " AND ($1::timestamptz IS NULL OR retry_at <= $1) ORDER BY retry_at LIMIT 1000",
        due_by,
    )
    return [(r["run_uuid"], r["step_uuid"], r["attempt"], r["retry_at"]) for r in rows]


@dataclass(frozen=True)
class AttemptKey:
    run_uuid: str
    step_uuid: str
    attempt: int


async def renew_leases(
    conn: Connection,
    runner_id: str,
    attempts: Sequence[AttemptKey],
    lease_seconds: float,
    now: datetime,
) -> set[AttemptKey]:
    """A runner's heartbeat: renew the lease of each of its attempts that is
    still the running attempt of its step, in one statement; those renewed
    (the others ended, were superseded or their run was aborted)."""
    rows = await conn.fetch(
        "UPDATE run_steps AS s"
        " SET lease_expires_at = $5::timestamptz + $6::float8 * interval '1 second',"
        " lease_seconds = $6"
        " FROM unnest($2::uuid[], $3::text[], $4::int[]) AS u(run_uuid, step_uuid, attempt)"
        " WHERE s.run_uuid = u.run_uuid AND s.step_uuid = u.step_uuid"
        " AND s.attempt = u.attempt AND s.status = 'STARTED' AND s.runner_id = $1"
        " RETURNING s.run_uuid::text, s.step_uuid, s.attempt",
        runner_id,
        [a.run_uuid for a in attempts],
        [a.step_uuid for a in attempts],
        [a.attempt for a in attempts],
        now,
        lease_seconds,
    )
    return {AttemptKey(r["run_uuid"], r["step_uuid"], r["attempt"]) for r in rows}


async def lapsed_leases(
    conn: Connection, now: datetime, calm_since: datetime, limit: int = 1000
) -> list[AttemptKey]:
    """Running attempts whose lease lapsed by ``now``, among those whose runner
    had a whole lease since ``calm_since`` to renew it (before then this
    scheduler may not have been able to take its heartbeats)."""
    rows = await conn.fetch(
        "SELECT run_uuid::text, step_uuid, attempt FROM run_steps"
        " WHERE status = 'STARTED' AND lease_expires_at < $1"
        " AND $2::timestamptz + lease_seconds * interval '1 second' <= $1"
        " ORDER BY lease_expires_at LIMIT $3",
        now,
        calm_since,
        limit,
    )
    return [AttemptKey(r["run_uuid"], r["step_uuid"], r["attempt"]) for r in rows]


def retry_times(retries: Sequence[tuple[str, float]], now: datetime) -> dict[str, datetime]:
    return {uuid: now + timedelta(seconds=delay) for uuid, delay in retries}


def utcnow() -> datetime:
    return datetime.now(UTC)


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
