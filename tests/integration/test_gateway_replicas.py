"""Gateway replicas: several gateway processes on one port (``SO_REUSEPORT``,
as ``orchest up --gateways N`` and the compose file run them), each with its
own live-events feed. The kernel spreads the connections among them; each
connection gets exactly the events of its filter, in order, once, whichever
process holds it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from sse_harness import Subjects, clients, gateway_process, until_id

from orchest_schemas.bus import BusNames
from support import free_port


async def test_two_gateways_share_a_port_and_both_deliver_events(
    nats_server: Any, database_url: str, nc: Client, bus: BusNames, tmp_path: Path
) -> None:
    port = free_port()
    subjects = Subjects(bus)
    names = list(subjects.filters)
    async with contextlib.AsyncExitStack() as stack:
        gateways = [
            await stack.enter_async_context(
                gateway_process(
                    nats_server.url,
                    database_url,
                    bus,
                    tmp_path / f"gw{i}.log",
                    port=port,
                    reuse_port=True,
                )
            )
            for i in (1, 2)
        ]
        # Plain requests are answered, whichever process takes them.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(20):
                assert (await http.get("/api/ping")).status_code == 204
        queries = [subjects.filters[names[i % len(names)]] for i in range(90)]
        async with clients(port, queries) as opened:
            held = [{c.local_port for c in opened if gw.serves(c.local_port)} for gw in gateways]
            # 90 connections spread by the kernel: both processes hold some
            # (all on one would have a chance of 2**-89), and no two hold one.
            assert all(held), [len(h) for h in held]
            assert len(held[0]) + len(held[1]) == len(opened)
            assert not held[0] & held[1]
            await subjects.publish(nc, 200)
            ends = {n: subjects.expected(n, 0)[-1].id for n in names}
            for client, i in zip(opened, range(len(opened)), strict=True):
                await client.read(until_id(ends[names[i % len(names)]]), 60)
        for client, i in zip(opened, range(len(opened)), strict=True):
            name = names[i % len(names)]
            assert client.events == subjects.expected(name, 0), name
            assert not client.errors
