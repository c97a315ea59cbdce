"""The gateway's HTTP protocol alone: ``python -m bench.accept_protocol``.

``orchest_gateway.server._Protocol`` (of the checkout this runs in) serves,
on uvloop, a Starlette app of two routes: ``GET /ping`` (an empty ``204``,
as ``/api/ping``) and ``POST /runs`` (figure 3's body size in, a 2.5 kB
JSON answer out, as a created run's ``201``). A client in a process of its
own (a blocking socket, keep-alive, ``TCP_NODELAY``) sends them in turn.
Prints one JSON line: the server process's CPU per GET and POST pair, and
the client's p50 of each. No NATS, no scheduler, no Postgres: what the
HTTP layer costs, which the figure's noise hides (A/B it by running this
from two checkouts in turn).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.server import ServerState

from orchest_gateway.server import _Protocol, listening_socket

ANSWER = json.dumps(
    {"uuid": "r", "steps": [{"step_uuid": f"s{i}", "x": "y" * 200} for i in range(10)]}
).encode()
BODY_BYTES = 1745
"""Figure 3's body, the 10-step chain, as httpx sends it."""
WARM_UP = 200

CLIENT = r"""
import json, socket, sys, time
port, n, body = int(sys.argv[1]), int(sys.argv[2]), b"x" * int(sys.argv[3])
c = socket.create_connection(("127.0.0.1", port))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
get = b"GET /ping HTTP/1.1\r\nHost: g\r\n\r\n"
post = (b"POST /runs HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body))
buf = b""
def exchange(parts):
    global buf
    for part in parts:
        c.sendall(part)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            length = 0
            for line in buf[:end].lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            if len(buf) >= end + 4 + length:
                buf = buf[end + 4 + length:]
                return
        buf += c.recv(65536)
gets, posts = [], []
for _ in range(n):
    t0 = time.perf_counter(); exchange([get])
    t1 = time.perf_counter(); exchange([post, body])
    t2 = time.perf_counter()
    gets.append(t1 - t0); posts.append(t2 - t1)
print(json.dumps([gets, posts]))
"""


async def ping(request: Request) -> Response:
    return Response(status_code=204)


async def runs(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, status_code=201, media_type="application/json")


async def measure(pairs: int) -> dict[str, Any]:
    app = Starlette(routes=[Route("/ping", ping), Route("/runs", runs, methods=["POST"])])
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, http=_Protocol)
    config.load()
    state = ServerState()
    sock = listening_socket("127.0.0.1", 0, reuse_port=False)
    server = await asyncio.get_running_loop().create_server(
        lambda: _Protocol(config, state, {}), sock=sock
    )
    port = sock.getsockname()[1]
    cpu = time.process_time()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        str(port),
        str(pairs + WARM_UP),
        str(BODY_BYTES),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await client.communicate()
    cpu = time.process_time() - cpu
    server.close()
    for connection in list(state.connections):
        connection.shutdown()
    gets, posts = (times[WARM_UP:] for times in json.loads(out))
    get, post = statistics.median(gets), statistics.median(posts)
    return {
        "server_cpu_us_per_pair": round(cpu / (pairs + WARM_UP) * 1e6, 1),
        "get_p50_us": round(get * 1e6, 1),
        "post_p50_us": round(post * 1e6, 1),
        "ratio": round(post / get, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.accept_protocol")
    parser.add_argument("--pairs", type=int, default=3000)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(measure(args.pairs))))
