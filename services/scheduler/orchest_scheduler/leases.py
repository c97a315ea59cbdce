"""Step leases on the scheduler's side: runners' heartbeats and the sweep.

A granted claim starts its attempt's lease (``run_steps.lease_expires_at``,
``lease_seconds`` from the runner's claim), as does an attempt handed to a
runner in a report's answer (``engine.hand_off``). While attempts run, each runner
sends one ``RunnerHeartbeat`` per interval naming all of them; one UPDATE
renews those still running (same attempt, same runner, step ``STARTED``),
and the answer tells the runner which are not: it kills them (an aborted
run whose cancel it missed, an attempt superseded after a lost lease, a step
that ended).

The sweep, in every scheduler replica, ends the attempts whose lease lapsed
through the run's mailbox (``engine.lease_lapsed``: re-dispatched as the
next attempt, or failed after ``max_lost_leases``); the version guard makes
the replicas' sweeps of one attempt count once. A replica sweeps only
leases whose runner had a whole lease to renew them since the replica last
had trouble (its start, or NATS or Postgres unreachable): heartbeats it
could not take must not cost attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg
from nats.aio.client import Client

from orchest_schemas.reports import AttemptCurrent, HeartbeatAnswer, RunnerHeartbeat
from orchest_service.errors import TRANSIENT_ERRORS

from . import step_store
from .clock import ticks, utcnow
from .runs import Runs

logger = logging.getLogger(__name__)

SWEEP_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, asyncpg.PostgresError)


class Leases:
    def __init__(
        self,
        pool: asyncpg.Pool,
        nc: Client,
        runs: Runs,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._nc = nc
        self._runs = runs
        self._clock = now
        self._calm_since = now()
        """Since when this replica could take heartbeats without trouble."""

    def _trouble(self) -> None:
        self._calm_since = self._clock()

    async def heartbeat(self, command: RunnerHeartbeat) -> HeartbeatAnswer:
        keys = [step_store.AttemptKey(a.run_uuid, a.step_uuid, a.attempt) for a in command.attempts]
        try:
            async with self._pool.acquire() as conn:
                current = await step_store.renew_leases(
                    conn, command.runner_id, keys, command.lease_seconds, self._clock()
                )
        except SWEEP_ERRORS:
            self._trouble()
            raise
        return HeartbeatAnswer(
            attempts=[
                AttemptCurrent(
                    run_uuid=k.run_uuid,
                    step_uuid=k.step_uuid,
                    attempt=k.attempt,
                    current=k in current,
                )
                for k in keys
            ]
        )

    async def sweep(self, stopping: asyncio.Event, every: float) -> None:
        """Until stopped: every ``every`` seconds, end the attempts whose lease lapsed."""
        async for _ in ticks(every, stopping):
            await self.sweep_once()

    async def sweep_once(self) -> int:
        """End the attempts whose lease lapsed; how many were found."""
        if not self._nc.is_connected:
            self._trouble()
            return 0
        try:
            async with self._pool.acquire() as conn:
                lapsed = await step_store.lapsed_leases(conn, self._clock(), self._calm_since)
        except SWEEP_ERRORS as exc:
            self._trouble()
            logger.warning("lease sweep failed (%s); next time", exc)
            return 0
        for key in lapsed:
            logger.warning(
                "attempt %d of %s/%s: lease lapsed with no heartbeat",
                key.attempt,
                key.run_uuid,
                key.step_uuid,
            )
            try:
                await self._runs.lease_lapsed(key.run_uuid, key.step_uuid, key.attempt)
            except Exception:
                logger.exception(
                    "ending the lapsed lease of %s/%s failed", key.run_uuid, key.step_uuid
                )
        return len(lapsed)
