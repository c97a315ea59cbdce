"""A step's output survives a bus that does not take it for a while."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from orchest_schemas.bus import BusNames
from orchest_schemas.events import StepLogChunk
from orchest_service.broker import ensure_streams
from orchest_service.log_publisher import LogPublisher


async def test_output_is_kept_until_the_stream_takes_it(nc: Client, bus: BusNames) -> None:
    js = nc.jetstream()
    subject = bus.step_log("r1", "s1")
    logs = LogPublisher(
        js,
        subject,
        lambda offset, data: StepLogChunk(
            run_uuid="r1", step_uuid="s1", attempt=1, offset=offset, data=data
        ),
        flush_seconds=0.01,
    )
    # No LOGS stream yet: JetStream does not answer the publish.
    await logs.write("first line\n")
    await logs.flush()  # must not raise: the step goes on
    await logs.write("second line\n")

    await ensure_streams(js, bus.streams)
    await logs.close()

    sub = await js.pull_subscribe(subject, durable="t", stream=bus.logs_stream.name)
    [msg] = await asyncio.wait_for(sub.fetch(1), 10)
    chunk = StepLogChunk.model_validate_json(msg.data)
    assert (chunk.offset, chunk.data) == (0, "first line\nsecond line\n")
