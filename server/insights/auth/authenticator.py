"""Per-call credential checks: access tokens and API keys, with Redis as a cache in front of PostgreSQL.

Revocation state lives durably in PostgreSQL (refresh-token families, token versions, API keys)
and is cached in Redis:

- ``RedisKeys.revoked_token`` — an access token signed out, until it would expire;
- ``RedisKeys.session`` — the session's state: its owner (user and organization) and the owner's token
  version, or ``revoked`` (60 s). A token is accepted only if its ``sub`` and ``org`` are the session's
  owner, so a session id never vouches for anyone else, cached or not;
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

from insights.auth import repository as repo
from insights.auth.permissions import effective_permissions
from insights.auth.tokens import AccessClaims, TokenService, sha256_hex
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
            if state is None or not _well_formed(state):  # a miss, or an entry written by an older release
                state = await self._session_state(claims.session_id)
                fresh = state
                # NX: a revocation written meanwhile (plain SET) wins over this fill, never the other way round.
                await self._redis.run(
                    lambda r: r.set(keys.session(claims.session_id), fresh, ex=STATE_CACHE_TTL_S, nx=True)
                )
        except RedisUnavailable:
            state = await self._session_state(claims.session_id)
        _check_session(state, claims)
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

    async def _session_state(self, session_id: UUID) -> str:
        """What the cache holds for a session: its owner and token version while it may be used, else 'revoked'.

        Looked up by session id alone (whatever organization a token claims), so the entry is the session's
        truth and a token naming someone else cannot write a wrong one."""
        async with self._db.global_tx() as conn:
            found = await repo.session_state(conn, session_id)
        if found is None or found.revoked or not found.is_active:
            return _REVOKED
        return json.dumps({"u": str(found.user_id), "o": str(found.organization_id), "v": found.token_version})

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
            key = await repo.api_key_by_hash(conn, key_hash)
        if key is None or key.revoked_at is not None:
            return _REVOKED
        # Looked up in PostgreSQL at most once per cache lifetime (60 s) while Redis works, so "last used"
        # is accurate to about a minute at the cost of one small write a minute per key in use.
        async with self._db.tenant_tx(key.organization_id) as conn:
            await repo.touch_api_key(conn, key.id)
        return json.dumps({"id": str(key.id), "org": str(key.organization_id), "perms": key.permissions})


def _owner(state: str) -> tuple[str, str, int] | None:
    try:
        owner = json.loads(state)
        return str(owner["u"]), str(owner["o"]), int(owner["v"])
    except (ValueError, KeyError, TypeError):
        return None


def _well_formed(state: str) -> bool:
    return state == _REVOKED or _owner(state) is not None


def _check_session(state: str, claims: AccessClaims) -> None:
    """Accepts the token only for the session's own user and organization, at the user's current token version."""
    owner = None if state == _REVOKED else _owner(state)
    if owner is None:
        raise AuthenticationError("Token revoked")
    user, organization, version = owner
    if user != str(claims.user_id) or organization != str(claims.organization_id):
        raise AuthenticationError("Invalid token")
    if version != claims.token_version:
        raise AuthenticationError("Token revoked")
