"""An attempt's output, published as its step's log (``LogPublisher``), whose
publisher is made at the first write: most trivial steps write nothing, and
then their attempt needs no publisher (its lock, its chunk maker) and no
close before the report (the runner sends the report at once, without a
task each for the close and the report)."""

from __future__ import annotations

from nats.js import JetStreamContext

from orchest_schemas.commands import StepWork
from orchest_schemas.events import StepLogChunk
from orchest_service.log_publisher import LogPublisher


class StepOutput:
    def __init__(
        self, js: JetStreamContext, subject: str, work: StepWork, flush_seconds: float
    ) -> None:
        self._js = js
        self._subject = subject
        self._work = work
        self._flush_seconds = flush_seconds
        self._logs: LogPublisher | None = None

    @property
    def written(self) -> bool:
        """Something was written (``close`` has output to publish, or published)."""
        return self._logs is not None

    async def write(self, text: str) -> None:
        if not text:
            return
        if self._logs is None:
            work = self._work
            self._logs = LogPublisher(
                self._js,
                self._subject,
                lambda offset, data: StepLogChunk(
                    run_uuid=work.run_uuid,
                    step_uuid=work.step_uuid,
                    attempt=work.attempt,
                    offset=offset,
                    data=data,
                ),
                self._flush_seconds,
            )
        await self._logs.write(text)

    async def close(self) -> None:
        """Publish what is left (``LogPublisher.close``); nothing if nothing was written."""
        if self._logs is not None:
            await self._logs.close()
