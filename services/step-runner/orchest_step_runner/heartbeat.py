"""The runner's heartbeat: every ``heartbeat_seconds``, for all the attempts
it runs at once, an in-progress acknowledgement of each work message
(JetStream's lease) and one ``RunnerHeartbeat`` request to the scheduler
(its lease, in ``run_steps``). The answer names the attempts no longer
current (the run was aborted, the attempt superseded, the step ended): they
are cancelled, so an attempt whose cancel (core NATS) the runner missed
still stops. A beat not answered changes nothing; the next may pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from orchest_schemas.bus import BusNames
from orchest_schemas.reports import AttemptRef, HeartbeatAnswer, RunnerHeartbeat
from orchest_service.commands import request_command
from orchest_service.errors import OrchestError

from .settings import RunnerSettings

logger = logging.getLogger(__name__)


@dataclass
class Running:
    """An attempt this runner holds, from its claim to its report."""

    msg: Msg | None
    """The work message: its lease is renewed while the attempt runs (None:
    an attempt handed over in a report's answer, with no message)."""
    attempt: int | None = None
    """The granted attempt; ``None`` until the claim is answered."""
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    early: set[int | None] = field(default_factory=set)
    """Attempts named by cancels that came before the claim's answer (the
    scheduler cancels a lost lease's attempt as it grants the next one)."""

    def grant(self, attempt: int) -> None:
        self.attempt = attempt
        if attempt in self.early or None in self.early:
            self.cancel.set()


class Heartbeat:
    def __init__(
        self,
        nc: Client,
        bus: BusNames,
        runner_id: str,
        settings: RunnerSettings,
        active: Mapping[tuple[str, str], Running],
    ) -> None:
        self._nc = nc
        self._bus = bus
        self._runner_id = runner_id
        self._settings = settings
        self._active = active
        """The runner's attempts by (run, step), as they come and go."""

    async def run(self) -> None:
        """Beat every ``heartbeat_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)  # wait-ok: the interval
            running = {key: a for key, a in self._active.items() if a.attempt is not None}
            if running:
                await asyncio.gather(*(_renew(a.msg) for a in running.values() if a.msg))
                await self._beat(running)

    async def _beat(self, running: dict[tuple[str, str], Running]) -> None:
        beat = RunnerHeartbeat(
            runner_id=self._runner_id,
            lease_seconds=self._settings.ack_wait_seconds,
            attempts=[
                AttemptRef(run_uuid=run, step_uuid=step, attempt=a.attempt or 1)
                for (run, step), a in running.items()
            ],
        )
        try:
            answer = await request_command(
                self._nc,
                self._bus.step_heartbeat,
                beat,
                HeartbeatAnswer,
                timeout=self._settings.claim_timeout_seconds,
            )
        except (OrchestError, NatsError, OSError, ValueError) as exc:
            logger.warning("heartbeat not answered (%s); next time", exc)
            return
        for item in answer.attempts:
            active = self._active.get((item.run_uuid, item.step_uuid))
            if item.current or active is None or active.attempt != item.attempt:
                continue
            if not active.cancel.is_set():
                logger.warning(
                    "attempt %d is no longer current (aborted, superseded or ended): stopping it",
                    item.attempt,
                    extra={"run_uuid": item.run_uuid, "step_uuid": item.step_uuid},
                )
                active.cancel.set()


async def _renew(msg: Msg) -> None:
    try:
        await msg.in_progress()
    except Exception as exc:  # a missed beat is not fatal; the next may pass
        logger.warning("lease renewal failed: %s", exc)
