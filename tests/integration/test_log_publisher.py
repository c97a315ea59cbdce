"""A step's output survives a bus that does not take it for a while."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.js import JetStreamContext

from orchest_schemas.bus import BusNames
from orchest_schemas.events import StepLogChunk
from orchest_service.broker import ensure_streams
from orchest_service.log_publisher import LogPublisher


def step_logs(
    js: JetStreamContext, subject: str, run: str, step: str, flush_seconds: float
) -> LogPublisher:
    """The publisher of the first attempt's output of ``step`` of ``run``."""
    return LogPublisher(
        js,
        subject,
        lambda offset, data: StepLogChunk(
            run_uuid=run, step_uuid=step, attempt=1, offset=offset, data=data
        ),
        flush_seconds=flush_seconds,
    )


async def test_output_is_kept_until_the_stream_takes_it(nc: Client, bus: BusNames) -> None:
    js = nc.jetstream()
    subject = bus.step_log("r1", "s1")
    logs = step_logs(js, subject, "r1", "s1", flush_seconds=0.01)
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


async def test_close_offers_again_what_the_stream_refused_before_it_returns(
    nc: Client, bus: BusNames
) -> None:
    """What ``close`` could not publish at once is published before it returns
    (a step's report and a build's end come after ``close``), not by a timer
    later on."""
    js = nc.jetstream()
    subject = bus.step_log("r2", "s2")
    logs = step_logs(js, subject, "r2", "s2", flush_seconds=60)
    await logs.write("the last line\n")
    # No LOGS stream when close begins: its first flush is refused. The stream
    # appears as soon as that refusal has been seen.
    refused = asyncio.Event()
    publish = js.publish

    async def refusing_once(*args: object, **kwargs: object) -> object:
        try:
            return await publish(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            refused.set()

    js.publish = refusing_once  # type: ignore[method-assign]

    async def make_stream() -> None:
        await refused.wait()
        await ensure_streams(js, bus.streams)

    maker = asyncio.create_task(make_stream())
    await logs.close()
    await maker

    info = await js.stream_info(bus.logs_stream.name)
    assert info.state.messages == 1, "close returned before its output was published"


async def test_output_written_while_a_flush_publishes_is_kept(nc: Client, bus: BusNames) -> None:
    js = nc.jetstream()
    await ensure_streams(js, bus.streams)
    subject = bus.step_log("r3", "s3")
    logs = step_logs(js, subject, "r3", "s3", flush_seconds=60)
    await logs.write("before\n")
    flushing = asyncio.create_task(logs.flush())
    await asyncio.sleep(0)  # wait-ok: one turn, the flush takes what is buffered and publishes
    assert not flushing.done()  # it awaits JetStream's answer
    await logs.write("during\n")  # while the flush awaits JetStream's answer
    await flushing
    await logs.close()

    sub = await js.pull_subscribe(subject, durable="t3", stream=bus.logs_stream.name)
    msgs = await asyncio.wait_for(sub.fetch(2), 10)
    text = "".join(StepLogChunk.model_validate_json(m.data).data for m in msgs)
    assert text == "before\nduring\n"
