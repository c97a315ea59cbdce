"""The runner's cache of frozen pipeline definitions (fetched by key from the
definitions object store once per runner, then kept).

A fetch that fails is tried once more: the scheduler stores a definition
again when it grows old for the bucket's TTL, and a read that overlaps the
rewrite can miss the old chunks. A definition that is not there at all
raises ``ObjectNotFoundError`` (the runner then fails the attempt)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from orchest_schemas.pipeline import PipelineDefinition
from orchest_service.broker import ensure_object_store

logger = logging.getLogger(__name__)


class DefinitionCache:
    def __init__(
        self, js: JetStreamContext, bucket: str, ttl_seconds: float, size: int = 64
    ) -> None:
        self._js = js
        self._bucket = bucket
        self._ttl_seconds = ttl_seconds
        self._size = size
        self._store: ObjectStore | None = None
        self._cache: OrderedDict[str, asyncio.Future[PipelineDefinition]] = OrderedDict()

    async def get(self, key: str) -> PipelineDefinition:
        """The definition of ``key``; concurrent asks for one key fetch it once."""
        future = self._cache.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._cache[key] = future
            try:
                future.set_result(await self._fetch(key))
            except BaseException as exc:
                del self._cache[key]
                future.set_exception(exc)
                future.exception()  # retrieved: the caller gets it below
                raise
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return await asyncio.shield(future)

    async def _fetch(self, key: str) -> PipelineDefinition:
        if self._store is None:
            self._store = await ensure_object_store(self._js, self._bucket, self._ttl_seconds)
        try:
            result = await self._store.get(key)
        except NatsError as exc:
            logger.warning("definition %s not read (%r): once more", key, exc)
            result = await self._store.get(key)
        return PipelineDefinition.model_validate_json(result.data or b"")
