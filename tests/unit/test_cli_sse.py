"""The CLI's event-stream client: resuming after a drop, with no gap and no
duplicate. The server is httpx's in-process transport playing the gateway's
part (what it sends is the gateway's wire format, tested against the real
gateway in tests/integration/test_gateway_memory.py)."""

from __future__ import annotations

import httpx

from orchest_cli.sse import follow, parse_lines


def frames(*events: tuple[int, str]) -> bytes:
    return "".join(f"id: {i}\nevent: {kind}\ndata: {{}}\n\n" for i, kind in events).encode()


def test_an_error_event_makes_it_resume_after_the_last_event() -> None:
    asked: list[str | None] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("last-event-id"))
        if len(asked) == 1:  # events 1 and 2, then dropped as a slow reader
            body = frames((1, "run_status_changed"), (2, "step_status_changed"), (2, "error"))
        else:
            body = frames((3, "run_status_changed"))
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    with httpx.Client(transport=httpx.MockTransport(gateway), base_url="http://gw") as client:
        seen = [(e.id, e.event) for e in follow(client, "/api/events", {})]
    assert seen == [
        ("1", "run_status_changed"),
        ("2", "step_status_changed"),
        ("3", "run_status_changed"),
    ]
    assert asked == [None, "2"]


def test_parse_lines_reads_the_wire_format() -> None:
    lines = iter(["id: 7", "event: x", "data: a", "data: b", "", ": keep-alive", ""])
    [event] = list(parse_lines(lines))
    assert (event.id, event.event, event.data) == ("7", "x", "a\nb")
