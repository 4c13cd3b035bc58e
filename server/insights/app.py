"""The composition root: builds every component once, from one ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass

from insights.audit import AuditLog
from insights.auth.authenticator import Authenticator, SessionCache
from insights.auth.passwords import PasswordHasher
from insights.auth.service import AuthService
from insights.auth.tokens import TokenService
from insights.cache import RedisClient
from insights.db.pool import Database
from insights.health import HealthMonitor
from insights.ratelimit import RateLimiter
from insights.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    redis: RedisClient
    limiter: RateLimiter
    audit: AuditLog
    authenticator: Authenticator
    auth: AuthService
    health: HealthMonitor

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        db = Database(settings)
        redis = RedisClient(settings)
        tokens = TokenService(settings)
        audit = AuditLog(db)
        sessions = SessionCache(redis, settings.refresh_token_ttl_s)
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            limiter=RateLimiter(settings, redis),
            audit=audit,
            authenticator=Authenticator(db, redis, tokens),
            auth=AuthService(settings, db, tokens, PasswordHasher(settings.bcrypt_rounds), sessions, audit),
            health=HealthMonitor(db, redis),
        )

    async def start(self) -> None:
        # Don't wait for PostgreSQL: the server starts, reports "not ready", and recovers by itself.
        await self.db.open(wait=False)

    async def close(self) -> None:
        await self.db.close()
        await self.redis.close()
