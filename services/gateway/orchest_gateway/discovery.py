"""Finding every live service instance through NATS micro ``$SRV.INFO``.

Each instance answers the request, so the replies are gathered on one inbox
until every expected service has answered and no new reply came for a short
quiet period, or until the deadline. Instances of another bus prefix (another
stack or test sharing the NATS server) are left out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime

from nats.aio.client import Client
from nats.aio.msg import Msg

from orchest_schemas.bus import (
    METADATA_BUS_PREFIX,
    METADATA_HOST,
    METADATA_PID,
    METADATA_STARTED,
    MICRO_INFO,
)
from orchest_schemas.health import ServiceInstance

logger = logging.getLogger(__name__)

_STANDARD_METADATA = frozenset({METADATA_BUS_PREFIX, METADATA_HOST, METADATA_PID, METADATA_STARTED})


def parse_info(data: bytes, bus_prefix: str) -> tuple[str, ServiceInstance] | None:
    """One micro INFO reply as (service name, instance); None if not ours."""
    try:
        info = json.loads(data)
        metadata = info.get("metadata") or {}
        if metadata.get(METADATA_BUS_PREFIX) != bus_prefix:
            return None
        pid = metadata.get(METADATA_PID)
        started = metadata.get(METADATA_STARTED)
        instance = ServiceInstance(
            id=info["id"],
            version=info["version"],
            host=metadata.get(METADATA_HOST),
            pid=int(pid) if pid else None,
            started=datetime.fromisoformat(started) if started else None,
            endpoints=[e.get("subject", "") for e in info.get("endpoints") or []],
            metadata={str(k): str(v) for k, v in metadata.items() if k not in _STANDARD_METADATA},
        )
        return str(info["name"]), instance
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("ignoring a malformed micro INFO reply: %s", exc)
        return None


async def discover(
    nc: Client,
    bus_prefix: str,
    expected: Iterable[str],
    *,
    timeout: float,
    quiet: float,
) -> dict[str, list[ServiceInstance]]:
    """Live instances by service name (only names that answered are present)."""
    expected_names = set(expected)
    found: dict[str, list[ServiceInstance]] = {}
    changed = asyncio.Event()

    async def on_reply(msg: Msg) -> None:
        parsed = parse_info(msg.data, bus_prefix)
        if parsed is not None:
            name, instance = parsed
            found.setdefault(name, []).append(instance)
            changed.set()

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_reply)
    try:
        await nc.publish(MICRO_INFO, b"", reply=inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            everyone = expected_names <= found.keys()
            wait = min(quiet, remaining) if everyone else remaining
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), wait)
            except TimeoutError:
                if everyone:
                    break
    finally:
        await sub.unsubscribe()
    for instances in found.values():
        instances.sort(key=lambda i: (i.host or "", i.pid or 0, i.id))
    return found
