"""The prediction cache: the model's scores of identical text are reused for an hour.

Keyed per organization (one tenant never learns from the latency whether another analysed a text),
by the served model version plus a fingerprint of the published files (a model retrained under the
same version folder never answers from its predecessor's cache). Only model answers are cached,
never the rule-based fallback's. Redis down: no cache.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from insights.infra.redis import Redis, RedisUnavailable


class PredictionCache:
    """Model predictions in Redis, per organization, model key and sha256 of the normalized text.

    The model key is the served version plus a short fingerprint of the published model files, so
    a model retrained under the same version folder never answers from its predecessor's cache.
    Only the model's scores are stored: rule-based answers are never cached. Redis down → no cache.
    """

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    def key(self, organization_id: UUID, model_key: str, normalized: str) -> str:
        keys = self._redis.keys
        return keys.prediction(organization_id, model_key, keys.text_hash(normalized))

    async def get_many(self, keys: list[str]) -> list[dict[str, Any] | None]:
        if not self.enabled or not keys:
            return [None] * len(keys)
        try:
            raw = await self._redis.run(lambda r: r.mget(keys))
        except RedisUnavailable:
            return [None] * len(keys)
        out: list[dict[str, Any] | None] = []
        for value in raw:
            try:
                out.append(json.loads(value) if value else None)
            except ValueError:
                out.append(None)
        return out

    async def put_many(self, entries: dict[str, dict[str, Any]]) -> None:
        if not self.enabled or not entries:
            return

        async def write(r: Any) -> None:
            async with r.pipeline(transaction=False) as pipe:
                for key, value in entries.items():
                    pipe.set(key, json.dumps(value, separators=(",", ":")), ex=self._ttl_s)
                await pipe.execute()

        try:
            await self._redis.run(write)
        except RedisUnavailable:
            pass
