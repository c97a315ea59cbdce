"""A job's executions: one queued run per parameter set, and the job's status
events, each written in the caller's transaction with its outgoing messages
(published by the caller once the transaction commits)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from uuid import uuid4

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import ParameterSet
from orchest_schemas.events import JobStatusChanged
from orchest_schemas.status import JobStatus, RunStatus

from . import job_store, outbox_store
from .dag import select_steps
from .definitions import DefinitionStore
from .job_rules import merge_parameters
from .job_store import JobRecord
from .mailbox import outbox_row
from .outbox import OutMessage
from .run_state import Plan
from .run_store import JobRunPlace, RunRecord
from .runs import Runs, pending_changes, plan_steps
from .sql import Connection

Written = tuple[list[int], list[OutMessage]]
"""Outbox ids and their messages, to publish once the transaction commits."""


class Executions:
    def __init__(self, bus: BusNames, runs: Runs, jobs_dir: Path) -> None:
        self._bus = bus
        self._runs = runs
        self._jobs_dir = jobs_dir

    def job_dir(self, job_uuid: str) -> Path:
        return self._jobs_dir / job_uuid

    async def execute(self, conn: Connection, job: JobRecord, now: datetime) -> Written:
        """One execution: a queued run per parameter set, and the job saved."""
        job.total_scheduled_executions += 1
        job.status = JobStatus.STARTED
        job.finished_time = None
        index = job.total_scheduled_executions
        all_ids: list[int] = []
        all_messages: list[OutMessage] = []
        for position, parameters in enumerate(job.parameters):
            ids, messages = await self._queue_run(conn, job, index, position, parameters, now)
            all_ids += ids
            all_messages += messages
        await job_store.save_job(conn, job)
        ids, messages = await self.announce(conn, job, now)
        return all_ids + ids, all_messages + messages

    async def announce(self, conn: Connection, job: JobRecord, now: datetime) -> Written:
        """The job's status event: in the event log and the outbox."""
        event = JobStatusChanged(
            job_uuid=job.uuid,
            status=job.status,
            next_scheduled_time=job.next_scheduled_time,
            total_scheduled_executions=job.total_scheduled_executions,
            occurred_at=now,
        )
        data = event.model_dump_json()
        await job_store.insert_job_event(conn, event.event_id, event.kind, job.uuid, now, data)
        message = OutMessage(self._bus.job_event(job.uuid), data.encode(), event.event_id)
        ids = await outbox_store.insert(conn, [outbox_row(message)])
        return ids, [message]

    async def _queue_run(
        self,
        conn: Connection,
        job: JobRecord,
        index: int,
        position: int,
        parameters: ParameterSet,
        now: datetime,
    ) -> Written:
        """A run of the execution, waiting for the admission (its workspace is
        made and its definition stored once admitted)."""
        definition = merge_parameters(job.definition, parameters)
        step_uuids, _ = select_steps(definition, job.run_type, job.run_uuids)
        new_steps, state = plan_steps(definition, step_uuids)
        plan = Plan(changes=pending_changes(state), run_status=RunStatus.PENDING)
        run_uuid = str(uuid4())
        record = RunRecord(
            uuid=run_uuid,
            pipeline_uuid=definition.uuid,
            project_uuid=job.project_uuid,
            job_uuid=job.uuid,
            project_dir=str(self.job_dir(job.uuid) / "runs" / run_uuid),
            env_variables=job.env_variables,
            definition=definition,
            definition_key=DefinitionStore.key_of(definition),
            version=0,
            event_seq=0,
            timeouts={s.uuid: s.timeout_seconds for s in new_steps},
        )
        written = await self._runs.insert(
            conn,
            record,
            job.run_type,
            new_steps,
            state,
            plan,
            now,
            job_place=JobRunPlace(index, position, parameters),
        )
        assert written is not None
        return written
