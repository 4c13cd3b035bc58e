"""Per-call credential checks: access tokens and API keys, with Redis as a cache in front of PostgreSQL.

Revocation state lives durably in PostgreSQL (refresh-token families, token versions, API keys)
and is cached in Redis:

- ``RedisKeys.revoked_token`` — an access token signed out, until it would expire;
- ``RedisKeys.session`` — the session's state: the user's token version, or ``revoked`` (60 s);
- ``RedisKeys.api_key`` — an API key's organization and permissions, or ``revoked`` (60 s).

While Redis is down every call checks PostgreSQL instead, so sign-out, password changes and
key revocation keep taking effect at once. A revocation made while Redis is unreachable is
written to PostgreSQL; a cached "valid" entry written before the outage can outlive it by at
most the 60 s cache lifetime, which is the bound documented in the README.
"""

from __future__ import annotations

import json
import time
from typing import cast
from uuid import UUID

from insights.auth.permissions import effective_permissions
from insights.auth.tokens import TokenService, sha256_hex
from insights.context import Principal
from insights.errors import AuthenticationError
from insights.infra.db import Database
from insights.infra.redis import Redis, RedisUnavailable

STATE_CACHE_TTL_S = 60
_REVOKED = "revoked"


class SessionCache:
    """Writes revocations to Redis (best effort: PostgreSQL already holds them)."""

    def __init__(self, redis: Redis, session_ttl_s: int) -> None:
        self._redis = redis
        self._session_ttl_s = session_ttl_s

    async def revoke_token(self, token_id: str, expires_at: int) -> None:
        ttl = max(1, expires_at - int(time.time()))
        try:
            await self._redis.run(lambda r: r.set(self._redis.keys.revoked_token(token_id), "1", ex=ttl))
        except RedisUnavailable:
            pass

    async def revoke_sessions(self, session_ids: list[UUID]) -> None:
        if not session_ids:
            return
        try:

            async def write(r):  # type: ignore[no-untyped-def]
                async with r.pipeline(transaction=False) as pipe:
                    for sid in session_ids:
                        pipe.set(self._redis.keys.session(sid), _REVOKED, ex=STATE_CACHE_TTL_S)
                    return await pipe.execute()

            await self._redis.run(write)
        except RedisUnavailable:
            pass

    async def forget_api_key(self, key_hash: str) -> None:
        try:
            await self._redis.run(lambda r: r.set(self._redis.keys.api_key(key_hash), _REVOKED, ex=STATE_CACHE_TTL_S))
        except RedisUnavailable:
            pass


class Authenticator:
    def __init__(self, db: Database, redis: Redis, tokens: TokenService) -> None:
        self._db = db
        self._redis = redis
        self._tokens = tokens

    async def from_bearer(self, token: str) -> Principal:
        claims = self._tokens.decode_access(token)
        keys = self._redis.keys
        state: str | None
        try:
            values = await self._redis.run(
                lambda r: r.mget(keys.revoked_token(claims.token_id), keys.session(claims.session_id))
            )
            revoked_jti, state = cast(list[str | None], values)
            if revoked_jti:
                raise AuthenticationError("Token revoked")
            if state is None:
                state = await self._session_state(claims.organization_id, claims.user_id, claims.session_id)
                fresh = state
                await self._redis.run(
                    lambda r: r.set(keys.session(claims.session_id), fresh, ex=STATE_CACHE_TTL_S)
                )
        except RedisUnavailable:
            state = await self._session_state(claims.organization_id, claims.user_id, claims.session_id)
        if state == _REVOKED or state != str(claims.token_version):
            raise AuthenticationError("Token revoked")
        return Principal(
            kind="user",
            id=claims.user_id,
            organization_id=claims.organization_id,
            permissions=claims.permissions,
            role=claims.role,
            session_id=claims.session_id,
            token_id=claims.token_id,
            token_expires_at=claims.expires_at,
        )

    async def _session_state(self, organization_id: UUID, user_id: UUID, session_id: UUID) -> str:
        """The user's token version if the user is active and the session not revoked, else 'revoked'."""
        async with self._db.tenant_tx(organization_id) as conn:
            cur = await conn.execute(
                """
                SELECT u.token_version, u.is_active,
                       EXISTS (SELECT 1 FROM refresh_tokens t
                               WHERE t.family_id = %s AND t.revoked_at IS NOT NULL) AS session_revoked
                FROM users u WHERE u.id = %s
                """,
                (session_id, user_id),
            )
            row = await cur.fetchone()
        if row is None or not row["is_active"] or row["session_revoked"]:
            return _REVOKED
        return str(row["token_version"])

    async def from_api_key(self, secret: str) -> Principal:
        key_hash = sha256_hex(secret)
        cached: str | None = None
        try:
            cached = cast(str | None, await self._redis.run(lambda r: r.get(self._redis.keys.api_key(key_hash))))
        except RedisUnavailable:
            pass
        if cached is None:
            cached = await self._api_key_state(key_hash)
            value = cached
            try:
                await self._redis.run(lambda r: r.set(self._redis.keys.api_key(key_hash), value, ex=STATE_CACHE_TTL_S))
            except RedisUnavailable:
                pass
        if cached == _REVOKED:
            raise AuthenticationError("Invalid API key")
        data = json.loads(cached)
        return Principal(
            kind="api_key",
            id=UUID(data["id"]),
            organization_id=UUID(data["org"]),
            permissions=effective_permissions("", data["perms"]),
        )

    async def _api_key_state(self, key_hash: str) -> str:
        async with self._db.global_tx() as conn:
            cur = await conn.execute("SELECT * FROM auth_api_key_by_hash(%s)", (key_hash,))
            row = await cur.fetchone()
        if row is None or row["revoked_at"] is not None:
            return _REVOKED
        return json.dumps(
            {"id": str(row["id"]), "org": str(row["organization_id"]), "perms": row["permissions"]}
        )
