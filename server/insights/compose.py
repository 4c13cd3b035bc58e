"""Per-process composition: each process builds only what it uses, from one ``Settings``.

``ServerPlatform`` is ``insights serve`` (the gRPC API, and the analysis worker unless disabled);
``WorkerPlatform`` is ``insights worker`` (the worker alone: no authentication, rate limits or VADER).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from insights.auth.authenticator import Authenticator, SessionCache
from insights.auth.keyring import KeyRing
from insights.auth.messages import Messages
from insights.auth.passwords import PasswordHasher
from insights.auth.service import AuthService
from insights.auth.tokens import TokenService
from insights.customers.privacy import PrivacyService
from insights.events.publisher import EventPublisher
from insights.events.reader import EventStreams
from insights.inference.factory import build_backend
from insights.inference.long_text import LongTextBackend
from insights.infra.audit import AuditLog
from insights.infra.db import Database
from insights.infra.health import HealthMonitor
from insights.infra.mail import Outbox, SmtpMailSender
from insights.infra.ratelimit import RateLimiter
from insights.infra.redis import Redis
from insights.ingestion.service import IngestionService
from insights.patterns.service import PatternService
from insights.query.cache import QueryCache
from insights.query.service import QueryService
from insights.sentiment.analysis import AnalysisService
from insights.sentiment.rollout import RolloutStore
from insights.sentiment.worker import AnalysisWorker
from insights.settings import Settings


@dataclass
class WorkerPlatform:
    settings: Settings
    db: Database
    redis: Redis
    events: EventPublisher
    inference: LongTextBackend
    """The model tier: Triton (``TRITON_URL``) or ONNX Runtime in process, behind the long-text window rule."""
    rollouts: RolloutStore
    """Which model version scores which text (stable, candidate and its share per organization)."""
    worker: AnalysisWorker
    cache: QueryCache
    """Cached read-side answers; every write of an organization invalidates its entries."""
    patterns: PatternService
    """Behaviour patterns, recomputed (debounced) after the worker processed a customer's interactions."""

    @classmethod
    def build(cls, settings: Settings) -> WorkerPlatform:
        return WorkerPlatform.assemble(settings, answers_calls=False)

    @staticmethod
    def assemble(settings: Settings, *, answers_calls: bool) -> WorkerPlatform:
        """``answers_calls``: the model also serves on-demand analyses (inside ``insights serve``)."""
        db = Database(settings)
        redis = Redis.from_settings(settings)
        events = EventPublisher(settings.stream, redis, retry_after_s=settings.redis.retry_after_s)
        # Alone, the worker's model answers no on-demand call: a batch runs whole, not in the small chunks
        # that bound how long an analysis waits behind the worker.
        inference = build_backend(settings.inference, settings.triton_url,
                                  background_chunk=None if answers_calls else settings.worker.batch_size)
        cache = QueryCache(redis)
        patterns = PatternService(settings.patterns, db, events, cache.invalidate)

        async def processed(organization_id: UUID, customer_ids: list[UUID]) -> None:
            await cache.invalidate(organization_id)
            if settings.patterns.enabled:
                await patterns.enqueue(organization_id, customer_ids)

        rollouts = RolloutStore(db, settings.inference.rollout_ttl_s)
        worker = AnalysisWorker(settings.worker, db, inference, events, on_scored=processed, rollouts=rollouts)
        return WorkerPlatform(settings, db, redis, events, inference, rollouts, worker, cache, patterns)

    def start_background(self) -> None:
        """The analysis worker and, with it, pattern detection (which follows the worker's writes)."""
        self.worker.start()
        if self.settings.patterns.enabled:
            self.patterns.start()

    async def start(self) -> None:
        # Don't wait for PostgreSQL: the process starts, reports "not ready", and recovers by itself.
        await self.db.open(wait=False)
        await self.inference.start()  # loads or connects in the background; never waits for the model tier

    async def close(self) -> None:
        await self.worker.stop()  # a batch in flight is abandoned: its leases expire, nothing is lost
        await self.patterns.stop()  # a detection in flight rolls back; its job's lease expires
        await self.inference.close()
        await self.rollouts.close()
        await self.events.close()
        await self.db.close()
        await self.redis.close()


@dataclass
class ServerPlatform(WorkerPlatform):
    limiter: RateLimiter
    audit: AuditLog
    authenticator: Authenticator
    auth: AuthService
    health: HealthMonitor
    streams: EventStreams
    """Organization event streams (Redis Streams): subscribe live, resume after a reconnect."""
    ingestion: IngestionService
    privacy: PrivacyService
    analysis: AnalysisService
    query: QueryService

    @classmethod
    def build(cls, settings: Settings) -> ServerPlatform:
        # First: refuses (InsecureKeys) signing keys that others could sign with, outside development mode.
        keys = KeyRing.from_settings(settings.auth, development=settings.environment == "development")
        base = WorkerPlatform.assemble(settings, answers_calls=True)
        db, redis = base.db, base.redis
        tokens = TokenService(settings.auth, keys)
        audit = AuditLog(db)
        sessions = SessionCache(redis, settings.auth.refresh_token_ttl_s)
        outbox = Outbox(SmtpMailSender(settings.mail))
        return cls(
            **vars(base),
            limiter=RateLimiter(settings.rate_limit, redis),
            audit=audit,
            authenticator=Authenticator(db, redis, tokens),
            auth=AuthService(
                settings.auth, db, tokens, PasswordHasher(settings.auth.bcrypt_rounds), sessions, audit, outbox,
                Messages(settings.mail),
            ),
            health=HealthMonitor(db, redis),
            streams=EventStreams(settings.stream, redis),
            ingestion=IngestionService(settings.ingestion, db, base.events, invalidate=base.cache.invalidate),
            privacy=PrivacyService(db, redis, base.events, audit),
            analysis=AnalysisService(settings.inference, base.inference, redis, base.rollouts),
            query=QueryService(settings.query, db),
        )

    async def close(self) -> None:
        await self.streams.close()
        await self.auth.close()
        await super().close()
