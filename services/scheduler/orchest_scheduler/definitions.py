"""Frozen pipeline definitions in a JetStream object store, keyed by content.

Step work names the definition by key instead of carrying it, so a
1000-step pipeline is stored once per version, not once per step; runners
fetch and cache it. The key is a hash of the definition's JSON, so runs of
an unchanged pipeline share one object.

The bucket has a TTL (``ORCHEST_ARTIFACTS_TTL_SECONDS``) and a run may last
longer, or a pipeline be run again later: before work naming a definition
goes out, the definition must have at least half the TTL to live. A key
stored or checked here is trusted until then; after it, the object is looked
at again and stored again if it is gone or older than half the TTL. (The
definition is also kept with the run in Postgres, which this stores from.)
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.api import ObjectInfo
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from orchest_schemas.pipeline import PipelineDefinition
from orchest_service.broker import ensure_object_store

logger = logging.getLogger(__name__)

KEEP_FRACTION = 0.5
"""A definition is stored again once older than this fraction of the TTL."""


class DefinitionStore:
    def __init__(self, js: JetStreamContext, bucket: str, ttl_seconds: float) -> None:
        self._js = js
        self._bucket = bucket
        self._ttl_seconds = ttl_seconds
        self._store: ObjectStore | None = None
        self._known: dict[str, float] = {}
        """Key to the (wall clock) time until which it is trusted to be stored."""

    @staticmethod
    def key_of(definition: PipelineDefinition) -> str:
        return key_of_json(encode_definition(definition))

    async def keep(self, key: str, definition: PipelineDefinition) -> str:
        """``put`` for a definition whose key this store gave before: while the
        key is trusted, nothing is encoded or hashed again (a chain dispatches
        a step of the same definition at each report); after, as ``put``."""
        if self._known.get(key, 0.0) > time.time():
            return key
        return await self.put(definition)

    async def put(self, definition: PipelineDefinition) -> str:
        """Make sure the definition is stored with at least half the TTL to
        live; returns its key.

        An object already stored and young enough is not written again:
        rewriting an object replaces its chunks, and a runner reading it
        meanwhile would get a torn copy (several scheduler replicas store the
        same definitions; runners fetch again once on a failed read)."""
        data = encode_definition(definition)
        key = key_of_json(data)
        now = time.time()
        if self._known.get(key, 0.0) > now:
            return key
        if self._store is None:
            self._store = await ensure_object_store(self._js, self._bucket, self._ttl_seconds)
        keep = self._ttl_seconds * KEEP_FRACTION
        try:
            stored_at = _stored_at(await self._store.get_info(key))
        except ObjectNotFoundError:
            stored_at = None
        if stored_at is None or now - stored_at >= keep:
            if stored_at is not None:
                logger.info("definition %s is old for its bucket's TTL: stored again", key)
            await self._store.put(key, data)
            stored_at = now
        self._known[key] = stored_at + keep
        return key


def _stored_at(info: ObjectInfo) -> float | None:
    """When the object was written (the writer's clock), if its metadata says."""
    if not info.mtime:
        return None
    try:
        return datetime.fromisoformat(info.mtime).timestamp()
    except ValueError:
        return None


def encode_definition(definition: PipelineDefinition) -> bytes:
    """The definition's JSON as stored, and what its key hashes."""
    return definition.model_dump_json(exclude_unset=True).encode()


def key_of_json(data: bytes) -> str:
    """The key of a definition encoded by ``encode_definition``."""
    return hashlib.sha256(data).hexdigest()[:40]
