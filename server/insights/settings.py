"""All configuration, in one place: environment variables with the ``INSIGHTS_`` prefix.

``DATABASE_URL``, ``REDIS_URL`` and ``TRITON_URL`` are also read without the prefix, because
that is what platforms and `make up` set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSIGHTS_", extra="ignore")

    # --- network ---------------------------------------------------------------------------
    grpc_host: str = "127.0.0.1"
    """Interface the gRPC server binds; Envoy is the public entry point."""
    grpc_port: int = 50051
    gateway_port: int = 8080
    """The one public port (REST, gRPC-Web and gRPC) that Envoy listens on."""
    metrics_port: int = 9464
    """Prometheus exposition port of the server; 0 disables it."""
    trusted_proxies: list[str] = ["127.0.0.1/32", "::1/128"]
    """Peers whose ``x-forwarded-for`` is believed (Envoy). Others are rate-limited by their own address."""

    # --- PostgreSQL ------------------------------------------------------------------------
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/insights",
        validation_alias=AliasChoices("INSIGHTS_DATABASE_URL", "DATABASE_URL"),
    )
    """Owner connection: migrations run with it. The server itself connects as ``db_app_role``."""
    db_app_role: str = "insights_app"
    """Role the server uses at run time: owns no table and is no superuser, so row-level security binds it."""
    db_app_password: SecretStr | None = None
    db_pool_min_size: int = 2
    db_pool_max_size: int = 20
    db_pool_timeout_s: float = 2.0
    """How long a call waits for a connection before it answers UNAVAILABLE."""
    db_statement_timeout_ms: int = 30_000
    migrate_on_start: bool = True

    # --- Redis -----------------------------------------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("INSIGHTS_REDIS_URL", "REDIS_URL")
    )
    redis_timeout_s: float = 0.5
    redis_retry_after_s: float = 2.0
    """After a Redis failure, how long to use the fallbacks before trying Redis again."""

    # --- authentication --------------------------------------------------------------------
    jwt_secret: SecretStr = SecretStr("dev-only-secret-change-me-0123456789abcdef")
    """HS256 signing key for access tokens. Set a long random value in production."""
    jwt_issuer: str = "customer-insights"
    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 7 * 24 * 3600
    bcrypt_rounds: int = 10
    lockout_threshold: int = 10
    lockout_window_s: int = 15 * 60
    lockout_duration_s: int = 15 * 60

    # --- rate limits (per minute) ----------------------------------------------------------
    rate_limit_ip_per_minute: int = 1000
    rate_limit_auth_ip_per_minute: int = 5
    rate_limit_user_per_minute: int = 100
    rate_limit_api_key_per_minute: int = 6000
    """Machine clients push event streams; they get a higher budget than people."""

    # --- inference -------------------------------------------------------------------------
    triton_url: str | None = Field(None, validation_alias=AliasChoices("INSIGHTS_TRITON_URL", "TRITON_URL"))
    """host:port of Triton's gRPC endpoint; unset: embedded ONNX Runtime."""
    model_repository: Path = REPO_ROOT / "model_repository"
    """Canonical Triton repository: ``sentiment/<version>/model.onnx``, tokenizer.json, labels.json, metrics.json."""
    inference_threads: int = 2
    """ONNX Runtime intra-op threads of the embedded backend (and of the local Triton's model)."""
    inference_max_batch: int = 32
    """Most texts per model run (seed: batch size 32; Triton's max_batch_size)."""
    inference_batch_window_ms: float = 0.0
    """How long the embedded micro-batcher waits for more texts once one has arrived. 0: no waiting; texts
    that queue up while a run is busy form the next batch (no added latency when idle, batches under load)."""
    inference_timeout_s: float = 0.5
    """Deadline of the model tier for an on-demand analysis (seed SLA 500 ms); past it, VADER answers."""
    triton_model_name: str = "sentiment"
    triton_attempt_timeout_s: float = 2.0
    """Deadline of one Triton attempt (retries after 100/200/400 ms while the overall deadline allows)."""
    triton_breaker_threshold: int = 5
    """Consecutive failed Triton attempts that open the circuit."""
    triton_breaker_reset_s: float = 5.0
    """How long the circuit stays open before one probe call is let through."""
    prediction_cache_ttl_s: int = 3600
    """Redis TTL of cached model predictions (``ml:{model_version}:{sha256(text)}``); 0 disables the cache."""
    worker_enabled: bool = True
    """Run the analysis worker inside ``insights serve`` (``insights worker`` runs it alone)."""
    worker_batch_size: int = 32
    worker_poll_interval_s: float = 1.0
    """Pause between polls when nothing is pending, or after the model tier failed."""
    worker_inference_timeout_s: float = 30.0
    """Deadline of one batch's model call in the worker (it has no user waiting, only locks held)."""

    # --- ingestion ---------------------------------------------------------------------------
    ingest_max_batch: int = 10_000
    """Most events one BatchIngest call (or one IngestStream) may carry."""
    ingest_clock_skew_s: float = 300.0
    """How far in the future a timestamp may be (client clocks drift); later ones are rejected."""
    idempotency_window_days: int = 7
    """How long an idempotency key is remembered; a retry after that may store the event again."""

    # --- event streams -----------------------------------------------------------------------
    stream_maxlen: int = 10_000
    """Events kept per organization stream (approximate trim); bounds what a reconnect can replay."""
    stream_ttl_s: int = 7 * 24 * 3600
    """An organization's stream expires this long after its last event."""
    stream_replay_max: int = 1_000
    """Most missed events replayed on resume; beyond that the subscriber gets a "resync" event."""
    stream_heartbeat_s: float = 15.0
    """A subscriber that got nothing for this long (at most twice this) receives a heartbeat event."""
    stream_subscriber_queue: int = 1_000
    """Events buffered per subscriber; a subscriber that falls this far behind is dropped."""
    stream_block_ms: int = 5_000
    """How long one XREAD of an organization's reader blocks before it polls again."""

    # --- paths -----------------------------------------------------------------------------
    migrations_dir: Path = REPO_ROOT / "db" / "migrations"
    descriptor_set: Path = REPO_ROOT / "gateway" / "build" / "insights.pb"

    log_level: str = "INFO"
    shutdown_grace_s: float = 10.0

    @property
    def auth_window_s(self) -> int:
        return 60


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
