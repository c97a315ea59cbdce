"""Frozen pipeline definitions in a JetStream object store, keyed by content.

Step work names the definition by key instead of carrying it, so a
1000-step pipeline is stored once per version, not once per step; runners
fetch and cache it. The key is a hash of the definition's JSON, so runs of
an unchanged pipeline share one object.
"""

from __future__ import annotations

import hashlib

from nats.js import JetStreamContext
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from orchest_runtime.broker import ensure_object_store
from orchest_schemas.pipeline import PipelineDefinition


class DefinitionStore:
    def __init__(self, js: JetStreamContext, bucket: str, ttl_seconds: float) -> None:
        self._js = js
        self._bucket = bucket
        self._ttl_seconds = ttl_seconds
        self._store: ObjectStore | None = None
        self._known: set[str] = set()

    @staticmethod
    def key_of(definition: PipelineDefinition) -> str:
        return _key(_encode(definition))

    async def put(self, definition: PipelineDefinition) -> str:
        """Store the definition unless it is there; returns its key.

        An object already stored is never written again: rewriting an object
        replaces its chunks, and a runner reading it meanwhile would get a
        torn copy (several scheduler replicas store the same definitions)."""
        data = _encode(definition)
        key = _key(data)
        if key in self._known:
            return key
        if self._store is None:
            self._store = await ensure_object_store(self._js, self._bucket, self._ttl_seconds)
        try:
            await self._store.get_info(key)
        except ObjectNotFoundError:
            await self._store.put(key, data)
        self._known.add(key)
        return key


def _encode(definition: PipelineDefinition) -> bytes:
    return definition.model_dump_json(exclude_unset=True).encode()


def _key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:40]
