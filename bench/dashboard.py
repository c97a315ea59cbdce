"""Figure 15: the dashboard's speed, measured in headless Chromium.

On the shared stack: a project with a pipeline of ``STEPS`` steps (a grid of
``LAYERS`` layers, each step fed by two of the layer before, positions given
as Orchest's files give them) and one run of it (started, then aborted: every
step has a state to show). ``ui/e2e/speed.mjs`` drives Debian's chromium
(playwright-core) through the first load, the pipeline page (every node
painted), a scripted pan; then, while the page shows the run, this module
publishes step events of that run on the bus at ``RATE`` a second, each
stamped when published (each a new attempt of its step, so each changes the
page), and the page records when each reached the DOM (a MutationObserver).
Plus the gzipped size of the built JavaScript.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from orchest_schemas.events import ANY_EVENT, RunStatusChanged, StepStatusChanged
from orchest_schemas.status import StepStatus

from .harness import Stack, percentile
from .report import MS, Figure

UI = Path(__file__).resolve().parent.parent / "ui"
CHROMIUM = Path("/usr/bin/chromium")
STEPS = 500
LAYERS = 50
RATE = 200.0
"""Events a second while the page is watched."""
EVENTS = 1000
BUNDLE_TARGET = 500_000
LOAD_TARGET = 1.0
DOM_TARGET = 0.100
FRAME_TARGET = 0.050
"""A pan's p99 frame time (20 frames a second at worst)."""
RENDER_TARGET = 2.0


def _definition(pipeline_uuid: str, name: str) -> dict[str, Any]:
    width = STEPS // LAYERS
    steps: dict[str, Any] = {}
    for i in range(STEPS):
        layer, row = divmod(i, width)
        parents = (
            [f"s{(layer - 1) * width + row}", f"s{(layer - 1) * width + (row + 1) % width}"]
            if layer
            else []
        )
        steps[f"s{i}"] = {
            "uuid": f"s{i}",
            "title": f"step {i}",
            "file_path": "noop.sh",
            "environment": "",
            "incoming_connections": parents,
            "meta_data": {"hidden": False, "position": [layer * 280, row * 110]},
        }
    return {"uuid": pipeline_uuid, "name": name, "version": "1.0.0", "settings": {}, "steps": steps}


async def _pipeline(stack: Stack) -> tuple[str, str]:
    """(project uuid, pipeline uuid) of a new project holding the large pipeline."""
    assert stack.http is not None
    http = stack.http
    project = await http.post("/api/projects", json={"name": f"speed-{uuid.uuid4().hex[:8]}"})
    project.raise_for_status()
    base = f"/api/projects/{project.json()['uuid']}"
    made = await http.post(f"{base}/files", json={"path": "noop.sh", "template": "shell"})
    made.raise_for_status()
    created = await http.post(f"{base}/pipelines", json={"path": "speed.orchest", "name": "speed"})
    created.raise_for_status()
    document = created.json()
    definition = _definition(document["uuid"], "speed")
    saved = await http.put(
        f"{base}/pipelines/{document['uuid']}",
        json=definition,
        headers={"If-Match": f'"{document["etag"]}"'},
    )
    saved.raise_for_status()
    return project.json()["uuid"], document["uuid"]


async def _aborted_run(stack: Stack, project: str, pipeline: str) -> str:
    """A full run of the pipeline, aborted once started; its uuid once it ended."""
    assert stack.nc is not None and stack.http is not None
    ended = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = ANY_EVENT.validate_json(msg.data)
        if isinstance(event, RunStatusChanged) and event.status.is_final and not ended.done():
            ended.set_result(event.run_uuid)

    sub = await stack.nc.subscribe(stack.bus.run_status_events(pipeline), cb=on_event)
    await stack.nc.flush()
    try:
        body = {"project_uuid": project, "pipeline_uuid": pipeline, "run_type": "full", "uuids": []}
        started = await stack.http.post("/api/runs", json=body)
        started.raise_for_status()
        run = started.json()["uuid"]
        (await stack.http.delete(f"/api/runs/{run}")).raise_for_status()
        await asyncio.wait_for(ended, 120)
    finally:
        await sub.unsubscribe()
    return str(run)


async def _publish(stack: Stack, pipeline: str, run: str) -> dict[int, float]:
    """``EVENTS`` step events at ``RATE`` a second; each one's publication time
    by its attempt (a new attempt each: attempt ``k + 2`` for the k-th)."""
    assert stack.nc is not None
    js = stack.nc.jetstream()
    stamps: dict[int, float] = {}
    t0 = time.perf_counter()
    for k in range(EVENTS):
        delay = t0 + k / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the publisher, not waiting for a condition
        step = f"s{k % STEPS}"
        status = StepStatus.STARTED if (k // STEPS) % 2 == 0 else StepStatus.SUCCESS
        event = StepStatusChanged(
            run_uuid=run,
            pipeline_uuid=pipeline,
            step_uuid=step,
            attempt=k + 2,
            status=status,
            sequence=1_000_000 + k,
        )
        stamps[k + 2] = time.time()
        await js.publish(
            stack.bus.step_event(pipeline, run, step),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": event.event_id},
        )
    return stamps


async def _sse_arrivals(stack: Stack, run: str, connected: asyncio.Event) -> dict[int, float]:
    """The server's part alone (``ORCHEST_SPEED_SSE=1``): a raw SSE client of
    ``/api/events`` in this process stamps (``time.time()``) each step event of
    ``run`` as its line arrives, by attempt. Runs until cancelled."""
    arrivals: dict[int, float] = {}
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=None) as client,
        client.stream("GET", "/api/events") as response,
    ):
        connected.set()
        try:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and run in line:
                    attempt = re.search(r'"attempt":(\d+)', line)
                    if attempt:
                        arrivals.setdefault(int(attempt[1]), time.time())
        except asyncio.CancelledError:
            return arrivals
    return arrivals


async def _line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        raw = await asyncio.wait_for(process.stdout.readline(), 300)
        if not raw:
            raise RuntimeError("the browser script ended early")
        text = raw.decode().strip()
        if text.startswith("{"):
            parsed: dict[str, Any] = json.loads(text)
            return parsed


def bundle_gzipped() -> tuple[int, int]:
    """(gzipped, raw) bytes of the built JavaScript (``ui/dist/assets/*.js``)."""
    files = sorted((UI / "dist" / "assets").glob("*.js"))
    raw = [f.read_bytes() for f in files]
    return sum(len(gzip.compress(b, 9)) for b in raw), sum(len(b) for b in raw)


def _node() -> str:
    """The node to run the browser script with (and what else it needs)."""
    node = shutil.which("node")
    if node is None or not CHROMIUM.exists() or not (UI / "dist" / "index.html").exists():
        raise RuntimeError("figure 15 needs node, /usr/bin/chromium and the built ui/dist")
    return node


async def dashboard(stack: Stack) -> list[Figure]:
    node = _node()
    project, pipeline = await _pipeline(stack)
    run = await _aborted_run(stack, project, pipeline)
    shots = Path(tempfile.mkdtemp(prefix="orchest-bench-speed-"))
    path = f"/projects/{project}/pipelines/{pipeline}?run={run}"
    process = await asyncio.create_subprocess_exec(
        *(node, "e2e/speed.mjs", stack.url, path, str(STEPS), str(shots), str(CHROMIUM)),
        cwd=UI,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,  # a line carries every event's stamps, frames and commits
    )
    try:
        ready = await _line(process)
        load_before = os.getloadavg()[0]
        connected = asyncio.Event()
        raw = (
            asyncio.create_task(_sse_arrivals(stack, run, connected))
            if os.environ.get("ORCHEST_SPEED_SSE")
            else None
        )
        if raw is not None:
            await asyncio.wait_for(connected.wait(), 10)
        stamps = await _publish(stack, pipeline, run)
        assert process.stdin is not None
        process.stdin.write(f"done {len(stamps)}\n".encode())
        await process.stdin.drain()
        seen = await _line(process)
        if raw is not None:
            raw.cancel()
            seen["sse"] = await raw
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    load = (load_before + os.getloadavg()[0]) / 2
    return _figures(ready, seen, stamps, load, shots)


def _frames(ready: dict[str, Any]) -> list[float]:
    return [t / MS for t in ready["panFitted"] + ready["panZoomed"]]


def _split(seen: dict[str, Any], stamps: dict[int, float]) -> str:
    """Where an event's time went: publication -> the page's `message` -> the DOM."""
    received = {attempt: t / MS for attempt, t in seen.get("received", [])}
    dom = {attempt: t / MS for _, attempt, t in seen["seen"]}
    both = [a for a in stamps if a in received and a in dom]
    if not both:
        return "no split: the page stamped no message"
    wire = [received[a] - stamps[a] for a in both]
    page = [dom[a] - received[a] for a in both]
    first, last = min(received[a] for a in both), max(dom[a] for a in both)
    span = max(last - first, 1e-9)
    commits = [t / MS for t in seen.get("commits", []) if first <= t / MS <= last]
    frames = [t / MS for t in seen.get("frames", []) if first <= t / MS <= last]
    sse = seen.get("sse") or {}
    server = [sse[a] - stamps[a] for a in stamps if a in sse]
    at_server = (
        f"publication to a raw SSE client p50 {percentile(server, 0.5) * MS:.1f} ms,"
        f" p99 {percentile(server, 0.99) * MS:.1f} ms; "
        if server
        else ""
    )
    return at_server + (
        f"publication to message p50 {percentile(wire, 0.5) * MS:.1f} ms,"
        f" p99 {percentile(wire, 0.99) * MS:.1f} ms; message to DOM p50"
        f" {percentile(page, 0.5) * MS:.1f} ms, p99 {percentile(page, 0.99) * MS:.1f} ms;"
        f" {len(commits) / span:.0f} React commits/s, {len(frames) / span:.0f} frames/s"
    )


def _figures(
    ready: dict[str, Any], seen: dict[str, Any], stamps: dict[int, float], load: float, shots: Path
) -> list[Figure]:
    first = ready["firstLoad"]
    render = ready["render"]
    frames = _frames(ready)
    latencies = [t / MS - stamps[attempt] for _, attempt, t in seen["seen"] if attempt in stamps]
    reached = len({attempt for _, attempt, _ in seen["seen"] if attempt in stamps})
    gz, raw = bundle_gzipped()
    errors = ready["errors"] + seen["errors"]
    where = (
        f"headless Chromium (`ui/e2e/speed.mjs`, playwright-core, `/usr/bin/chromium`), loopback;"
        f" load average {load:.1f} on 2 cores shared with other work"
        + (f"; page errors: {errors}" if errors else "")
    )
    p99_frame = percentile(frames, 0.99)
    p50_dom, p99_dom = percentile(latencies, 0.5), percentile(latencies, 0.99)
    split = _split(seen, stamps)
    return [
        Figure(
            name="15a. dashboard first load",
            value=(
                f"load {first['load']:.0f} ms, first contentful paint {first['fcp']:.0f} ms,"
                f" DOMContentLoaded {first['domContentLoaded']:.0f} ms;"
                f" {first['transferred'] / 1024:.0f} KiB transferred"
            ),
            floor="-",
            ratio=None,
            target="< 1 s",
            met=first["load"] / MS < LOAD_TARGET,
            how=(
                "the home page opened in a fresh browser profile (nothing cached): the"
                " navigation's `loadEventEnd`, the first contentful paint and"
                f" `domContentLoadedEventEnd`, from the navigation's start; {where}."
            ),
        ),
        Figure(
            name=f"15b. {STEPS}-step pipeline rendered and panned",
            value=(
                f"every node painted at {render['painted']:.0f} ms (script loaded at"
                f" {render['script'] or 0:.0f} ms, API reads done at {render['reads'] or 0:.0f} ms,"
                f" first node at {render['first'] or 0:.0f} ms); pan frames p50"
                f" {percentile(frames, 0.5) * MS:.1f} ms, p99 {p99_frame * MS:.1f} ms,"
                f" max {max(frames) * MS:.1f} ms ({len(frames)} frames,"
                f" {ready['zoomedNodes']} nodes in the page zoomed in)"
            ),
            floor="-",
            ratio=None,
            target="rendered < 2 s, pan p99 frame < 50 ms",
            met=render["painted"] / MS < RENDER_TARGET and p99_frame < FRAME_TARGET,
            how=(
                f"the pipeline page of a {STEPS}-step pipeline ({LAYERS} layers, each step fed by"
                " two of the layer before, positions in the file) showing an aborted run of it:"
                " from the navigation's start until all its step nodes are in the page, plus two"
                " animation frames (painted); the script's and the API reads' ends from the"
                " resource timings. Pan: a scripted mouse drag across the DAG and back"
                " (120 moves), at the fitted zoom and again zoomed in; frame time = the interval"
                f" between animation frames meanwhile; {where}."
            ),
        ),
        Figure(
            name=f"15c. status event to DOM at {RATE:.0f} events/s",
            value=(
                f"{reached} of {len(stamps)} reached the page; p50 {p50_dom * MS:.1f} ms,"
                f" p99 {p99_dom * MS:.1f} ms ({split})"
            ),
            floor="-",
            ratio=None,
            target="p99 < 100 ms, every event",
            met=reached == len(stamps) and p99_dom < DOM_TARGET,
            how=(
                f"while the {STEPS}-step pipeline's page shows its run, {len(stamps)} step events"
                f" of that run published on the bus at {RATE:.0f} a second (each a new attempt of"
                " its step), each stamped (`time.time()`) just before its publication; the page"
                " records (`performance.timeOrigin + performance.now()`, same clock) when a"
                " MutationObserver sees that step node show the attempt; latency = seen -"
                " stamped, over every event. Split: publication to the page's `message`"
                " (stamped before the app's handler), from there to the DOM (with"
                " `ORCHEST_SPEED_SSE=1`, also to a raw SSE client in the bench); React commits"
                " counted by a devtools hook, animation frames by the page's"
                f" `requestAnimationFrame` calls; screenshots in `{shots}`; {where}."
            ),
        ),
        Figure(
            name="15d. dashboard JavaScript, gzipped",
            value=f"{gz / 1024:.0f} KiB ({raw / 1024:.0f} KiB raw)",
            floor="-",
            ratio=None,
            target="< 500 KB",
            met=gz < BUNDLE_TARGET,
            how="every `ui/dist/assets/*.js` of the build, gzip level 9, summed.",
        ),
    ]
