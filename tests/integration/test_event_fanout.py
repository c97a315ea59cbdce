"""Hundreds of event-stream connections on one gateway: each gets exactly its
events, in order, once; live from the moment its response starts; a replay
joins the live events with no gap and no duplicate; a client that falls
behind or stalls is dropped, told where to resume, and slows nobody else.

Events are published straight to the events stream (the scheduler is not
needed to relay them), except in the test that watches a real run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from runs_harness import Project, whole_stack
from sse_harness import (
    SseClient,
    Subjects,
    clients,
    gateway,
    gateway_process,
    parse_frames,
    publish,
    until_id,
)

from orchest_schemas.bus import BusNames


async def test_hundreds_of_clients_get_exactly_their_events_with_mixed_filters_and_replays(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    rng = random.Random(21)
    subjects = Subjects(bus)
    async with gateway(service_settings, read_window_messages=16) as port:
        async with clients(port, [{}]) as (witness,):
            stored = await subjects.publish(nc, 300)
            # Once a client got the last of them, the gateway's live feed is past them.
            await witness.read(until_id(max(stored)))
        # Live clients: opened before the second burst, they get all of it.
        names = list(subjects.filters)
        live_names = [names[i % len(names)] for i in range(90)]
        async with clients(port, [subjects.filters[n] for n in live_names]) as live:
            # Replaying clients open while the second burst is published: they
            # switch from the stored events to the live ones under it.
            replay_names = [names[i % len(names)] for i in range(180)]
            starts = [0 if i % 2 else rng.choice(stored) for i in range(len(replay_names))]
            queries = [
                {**subjects.filters[n], **({"replay": "true"} if s == 0 else {})}
                for n, s in zip(replay_names, starts, strict=True)
            ]
            headers = [{"Last-Event-ID": str(s)} if s else {} for s in starts]
            burst = asyncio.create_task(subjects.publish(nc, 300))
            async with clients(port, queries, headers) as replaying:
                last = max(await burst)
                # Each filter's last event is among the burst's.
                ends = {n: subjects.expected(n, 0)[-1].id for n in names}
                everyone = [*zip(live, live_names, strict=True)]
                everyone += zip(replaying, replay_names, strict=True)
                await asyncio.gather(*(c.read(until_id(ends[n]), 120) for c, n in everyone))
        for client, name in zip(live, live_names, strict=True):
            assert client.events == subjects.expected(name, max(stored)), name
        for client, name, start in zip(replaying, replay_names, starts, strict=True):
            assert client.events == subjects.expected(name, start), (name, start)
        assert all(not c.errors for c, _ in everyone)
        assert ends["all"] == last


async def test_every_connection_is_live_once_its_response_starts(
    nats_server: Any, database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    """300 connections arriving at once on a gateway process: each publishes
    an event of its own run as soon as its response's headers arrived, and
    gets it."""
    pipeline = str(uuid.uuid4())
    runs = [str(uuid.uuid4()) for _ in range(300)]
    log = tmp_path / "gw.log"
    async with gateway_process(nats_server.url, database_url, bus, log) as gw:

        async def one(run: str) -> bool:
            client = SseClient(gw.port, {"run_uuid": run})
            await client.open()
            try:
                body = {"kind": "run_status_changed", "run": run}
                (sequence,) = await publish(nc, [(bus.run_event(pipeline, run), body)])
                with contextlib.suppress(TimeoutError):  # missed: counted below
                    await client.read(until_id(sequence), 30)
                return [json.loads(e.data)["run"] for e in client.events] == [run]
            finally:
                client.close()

        got = await asyncio.gather(*(one(run) for run in runs))
    assert all(got), f"{got.count(False)} of {len(runs)} connections missed their event"


async def test_replays_join_the_live_events_under_a_burst_with_no_gap_or_duplicate(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    """Clients resume at points across a run's events while 2,000 more are
    published: each gets every event after its point, each once, in order."""
    rng = random.Random(2)
    pipeline, run = str(uuid.uuid4()), str(uuid.uuid4())
    subject = bus.step_event(pipeline, run, "s")

    def events(first: int, count: int) -> list[tuple[str, dict[str, Any]]]:
        return [
            (subject, {"kind": "step_status_changed", "n": n}) for n in range(first, first + count)
        ]

    async with gateway(service_settings, read_window_messages=8) as port:
        published = await publish(nc, events(0, 500))
        last = published[0] + 2499  # the test's own stream: its sequences follow each other

        async def burst() -> int:
            for first in range(500, 2500, 50):
                published.extend(await publish(nc, events(first, 50)))
            return max(published)

        publishing = asyncio.create_task(burst())
        resumed: list[SseClient] = []
        # Each client reads from the moment it joins and resumes where it is
        # told to if dropped, as the dashboard does: whether a client in this
        # process keeps up with the gateway's feed depends on the machine's
        # load (one more than 1,024 events behind is dropped, by design).
        reading: list[asyncio.Task[None]] = []
        starts: list[int] = []
        try:
            for _ in range(40):  # joining one after the other, during the burst
                starts.append(rng.choice(published))
                client = SseClient(port, {"run_uuid": run}, {"Last-Event-ID": str(starts[-1])})
                await client.open()
                resumed.append(client)
                reading.append(asyncio.create_task(client.follow(until_id(last), 120)))
            assert await publishing == last
            await asyncio.gather(*reading)
        finally:
            for task in reading:
                task.cancel()
            for client in resumed:
                client.close()
    assert sorted(published) == list(range(min(published), last + 1))
    for client, start in zip(resumed, starts, strict=True):
        assert client.ids == list(range(start + 1, last + 1)), (start, client.errors)
        assert all("behind" in error["message"] for error in client.errors), client.errors


async def test_clients_that_fall_behind_are_told_and_resume_exactly(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    """With room for one waiting event per connection, a burst of events
    larger than the clients' sockets hold leaves every client behind: each is
    sent ``event: error`` with where to resume, resumes, and in the end has
    every event once, in order."""
    pipeline, run = str(uuid.uuid4()), str(uuid.uuid4())
    subject = bus.run_event(pipeline, run)
    async with (
        gateway(service_settings, sse_queue_events=1) as port,
        clients(port, [{"pipeline_uuid": pipeline}] * 5, receive_buffer=4096) as followers,
    ):
        # 8 MB per client: more than the kernel holds for a client that does
        # not read (its send buffer is at most 4 MB, net.ipv4.tcp_wmem; its
        # receive buffer is held at a few KB: left to grow, it can reach
        # net.ipv4.tcp_rmem's maximum, 32 MB here, and hold it all).
        body = {"kind": "run_status_changed", "pad": "x" * 16_000}
        async with clients(port, [{"pipeline_uuid": pipeline}]) as (witness,):
            sequences = await publish(nc, [(subject, {**body, "n": n}) for n in range(500)])
            # The followers read nothing until the gateway handed out the burst.
            await witness.read(until_id(max(sequences)), 60)
        await asyncio.gather(*(c.follow(until_id(max(sequences)), 120) for c in followers))
    for client in followers:
        assert client.ids == sorted(sequences)
    told = [error for client in followers for error in client.errors]
    assert told, "no client fell behind"
    assert all("behind" in error["message"] for error in told), told[0]


async def test_a_stalled_client_is_dropped_and_the_others_get_every_event(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames, caplog: Any
) -> None:
    pipeline, run = str(uuid.uuid4()), str(uuid.uuid4())
    subject = bus.step_event(pipeline, run, "s")
    pad = "x" * 4000  # 2,000 events of 4 KiB: more than the sockets' buffers
    async with gateway(service_settings, sse_stall_seconds=2.0) as port:
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_connect(stalled, ("127.0.0.1", port))
            request = f"GET /api/events?run_uuid={run} HTTP/1.1\r\nHost: gateway\r\n\r\n"
            await loop.sock_sendall(stalled, request.encode())
            async with clients(port, [{"run_uuid": run}] * 20) as readers:
                body = {"kind": "step_status_changed", "pad": pad}
                sequences = await publish(nc, [(subject, {**body, "n": n}) for n in range(2000)])
                await asyncio.gather(*(c.read(until_id(max(sequences)), 120) for c in readers))
            for client in readers:
                assert client.ids == sorted(sequences)
                assert not client.errors
            # Reading the stalled connection now, to its end.
            raw = b""
            async with asyncio.timeout(60):
                with contextlib.suppress(ConnectionResetError):
                    while chunk := await loop.sock_recv(stalled, 65536):
                        raw += chunk
        finally:
            stalled.close()
        # It was dropped: told where to resume if it read in time, else cut.
        frames = parse_frames(raw.partition(b"\r\n\r\n")[2])
        events = [f for f in frames if f.get("event") != "error"]
        ids = [int(e["id"]) for e in events]
        assert ids and ids == sorted(sequences)[: len(ids)]
        resume = str(ids[-1])
        # Whichever comes first drops it: the stall deadline, or its queue
        # overflowing while it takes nothing (on a loaded machine).
        reasons = ("took no event", "events behind")
        if frames[-1].get("event") == "error":
            told = json.loads(frames[-1]["data"])
            assert any(r in told["message"] for r in reasons), told
            assert told["last_event_id"] == resume
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert any(reason in message for message in dropped for reason in reasons), dropped
        resumed = SseClient(port, {"run_uuid": run}, {"Last-Event-ID": resume})
        await resumed.open()
        try:
            await resumed.read(until_id(max(sequences)))
        finally:
            resumed.close()
        assert ids + resumed.ids == sorted(sequences)


async def test_the_project_filter_and_bad_filters(
    service_settings: Callable[..., Any], nc: Client, bus: BusNames
) -> None:
    project, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with gateway(service_settings) as port:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            bad = await http.get("/api/events", params={"project_uuid": "a.b"})
            assert bad.status_code == 422, bad.text
            assert bad.json()["errors"][0]["loc"] == ["query", "project_uuid"]
            two = await http.get(
                "/api/events", params={"project_uuid": project, "run_uuid": project}
            )
            assert two.status_code == 422, two.text
        async with clients(port, [{"project_uuid": project}]) as (client,):
            body = {"kind": "project_changed", "project_uuid": project, "paths": ["a.py"]}
            sequences = await publish(
                nc,
                [
                    (bus.project_event(other), {**body, "project_uuid": other}),
                    (bus.project_event(project), body),
                    (bus.run_event(project, project), {"kind": "run_status_changed"}),
                ],
            )
            await client.read(until_id(sequences[1]))
            # The last event published, on everything, shows nothing else came.
            async with clients(port, [{}]) as (everything,):
                (end,) = await publish(nc, [(bus.project_event(project), body)])
                await everything.read(until_id(end))
                await client.read(until_id(end))
    assert client.ids == [sequences[1], end]
    assert [json.loads(e.data)["project_uuid"] for e in client.events] == [project, project]
    assert {e.event for e in client.events} == {"project_changed"}


async def test_a_run_watched_by_200_clients(
    service_settings: Callable[..., Any], workdir: Path
) -> None:
    """A real 20-step chain: every client, on the pipeline or on everything,
    gets every event of the run, in order, as JetStream holds them."""
    project = Project(workdir / "project")
    project.root.mkdir()
    (project.root / "noop.sh").write_text(":\n")
    parent: tuple[str, ...] = ()
    for i in range(20):
        parent = (project.step(f"s{i:02}", "noop.sh", parents=parent),)
    async with whole_stack(service_settings) as stack:
        port = stack.http.base_url.port
        assert port is not None
        queries = [{"pipeline_uuid": project.uuid} if i % 2 else {} for i in range(200)]
        async with clients(port, queries) as watching:
            created = await stack.start_run(project.body())
            events = await stack.events(created["uuid"])

            def final(client: SseClient) -> bool:
                return any(
                    e.event == "run_status_changed" and '"SUCCESS"' in e.data
                    for e in client.events[-1:]
                )

            await asyncio.gather(*(c.read(final, 120) for c in watching))
    expected = [e.model_dump_json() for e in events]
    for client in watching:
        assert [e.data for e in client.events] == expected
        assert client.ids == sorted(set(client.ids))
