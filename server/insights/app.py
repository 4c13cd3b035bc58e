"""The composition root: builds every component once, from one ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass

from insights.analysis import AnalysisService
from insights.audit import AuditLog
from insights.auth.authenticator import Authenticator, SessionCache
from insights.auth.passwords import PasswordHasher
from insights.auth.service import AuthService
from insights.auth.tokens import TokenService
from insights.cache import RedisClient
from insights.db.pool import Database
from insights.events import EventBus
from insights.health import HealthMonitor
from insights.inference.factory import build_backend
from insights.inference.types import SentimentBackend
from insights.ingestion.service import IngestionService
from insights.privacy import PrivacyService
from insights.ratelimit import RateLimiter
from insights.settings import Settings
from insights.worker import AnalysisWorker


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
    events: EventBus
    """Organization event streams (Redis Streams): publish after commit, subscribe live."""
    ingestion: IngestionService
    privacy: PrivacyService
    inference: SentimentBackend
    """The model tier: Triton (``TRITON_URL``) or ONNX Runtime in process."""
    analysis: AnalysisService
    worker: AnalysisWorker

    @classmethod
    def build(cls, settings: Settings) -> Platform:
        db = Database(settings)
        redis = RedisClient(settings)
        tokens = TokenService(settings)
        audit = AuditLog(db)
        sessions = SessionCache(redis, settings.refresh_token_ttl_s)
        events = EventBus(settings)
        inference = build_backend(settings)
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            limiter=RateLimiter(settings, redis),
            audit=audit,
            authenticator=Authenticator(db, redis, tokens),
            auth=AuthService(settings, db, tokens, PasswordHasher(settings.bcrypt_rounds), sessions, audit),
            health=HealthMonitor(db, redis),
            events=events,
            ingestion=IngestionService(settings, db, events),
            privacy=PrivacyService(db, redis, events, audit),
            inference=inference,
            analysis=AnalysisService(settings, inference, redis),
            worker=AnalysisWorker(settings, db, inference, events),
        )

    async def start(self) -> None:
        # Don't wait for PostgreSQL: the server starts, reports "not ready", and recovers by itself.
        await self.db.open(wait=False)
        await self.inference.start()  # loads or connects in the background; never waits for the model tier

    async def close(self) -> None:
        await self.worker.stop()
        await self.inference.close()
        await self.events.close()
        await self.db.close()
        await self.redis.close()
