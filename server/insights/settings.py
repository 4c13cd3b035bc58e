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
