"""All configuration: environment variables with the ``INSIGHTS_`` prefix, grouped per subsystem.

A field of a group is set as ``INSIGHTS_<GROUP>__<FIELD>`` (two underscores between group and field),
e.g. ``INSIGHTS_DB__POOL_MAX_SIZE=40``. ``DATABASE_URL``, ``REDIS_URL`` and ``TRITON_URL`` are also
read without the prefix, because that is what platforms and `make up` set. Every field carries a
docstring: ``python -m insights.settings`` prints the table that README.md's configuration section holds.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class NetworkSettings(BaseModel):
    grpc_host: str = "127.0.0.1"
    """Interface the gRPC server binds; Envoy is the public entry point."""
    grpc_port: int = 50051
    """Port of the gRPC server."""
    gateway_host: str = "127.0.0.1"
    """Interface Envoy's public listener binds (`make up`): this machine only, since development is plain
    HTTP; ``0.0.0.0`` serves the network (then set ``gateway.tls_cert_file`` and ``gateway.tls_key_file``)."""
    gateway_port: int = 8080
    """The one public port (REST, gRPC-Web and gRPC) that Envoy listens on."""
    envoy_admin_port: int = 9901
    """Envoy's admin interface (loopback only); a second stack on one host needs another."""
    metrics_port: int = 9464
    """Prometheus exposition port of the server; 0 disables it."""
    metrics_host: str = "127.0.0.1"
    """Interface of the metrics port, which is unauthenticated: loopback unless a scraper must reach it
    (Kubernetes sets the pod address, and a NetworkPolicy admits only the monitoring namespace)."""
    trusted_proxies: list[str] = ["127.0.0.1/32", "::1/128"]
    """Peers whose ``x-forwarded-for`` is believed, when the call also carries ``gateway.secret``
    (Envoy). Others are rate-limited by their own address."""
    shutdown_grace_s: float = 10.0
    """How long in-flight calls may finish after SIGTERM."""


# --- the edge (Envoy) and what the server believes of it: README "Security model: the edge" ----------


class GatewaySettings(BaseModel):
    secret: SecretStr | None = None
    """Shared secret that Envoy sends on every call it forwards (header ``x-insights-gateway``, from its
    environment variable of the same name as this one); the server believes ``x-forwarded-for`` only
    with it, from a trusted proxy. Unset: never (`make up` and the tests generate one per run)."""
    cors_origins: list[str] = []
    """Exact origins (``https://app.example.com``) browsers may call the API from; empty: only the
    gateway's own origin, where the dashboard is served. ``null`` and wildcards are refused."""
    tls_cert_file: Path | None = None
    """PEM certificate chain of the public listener. With ``tls_key_file``: HTTPS only (HTTP/2 and
    HTTP/1.1 by ALPN) and HSTS on every response. Unset: plain HTTP (development, `make up`)."""
    tls_key_file: Path | None = None
    """PEM private key of ``tls_cert_file``."""
    hsts_max_age_s: int = 31_536_000
    """``strict-transport-security`` max-age when TLS is on."""
    public_reflection: bool = False
    """Serve gRPC reflection on the public listener too (off: only on the server's own port, for
    internal clients and tooling)."""
    max_request_body_bytes: int = 10 * 1024 * 1024
    """Largest REST request body (413 above it, answered by Envoy as soon as that much has arrived). The
    server accepts gRPC and gRPC-Web messages up to 7 times this, what such a body can become once
    transcoded (RESOURCE_EXHAUSTED above it, per message: streams are never buffered whole)."""
    max_request_headers_kb: int = 32
    """Largest request line plus headers Envoy accepts (431 above it); long texts go in a POST body."""
    max_requests_in_flight: int = 1024
    """Requests Envoy keeps in flight to the servers (its circuit breaker); beyond that it answers 503 with
    ``retry-after`` at once, as overload, rather than queueing without bound."""
    content_security_policy: str = (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )
    """``content-security-policy`` of responses that set none themselves (the dashboard's origin)."""

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, sep, host = origin.partition("://")
            if origin.strip().lower() == "null" or "*" in origin or not sep or scheme not in ("http", "https") \
                    or not host or "/" in host:
                raise ValueError(f"{origin!r} is not an exact origin such as https://app.example.com")
        return origins

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None and self.tls_key_file is not None


class DatabaseSettings(BaseModel):
    app_role: str = "insights_app"
    """Role the server uses at run time: owns no table and is no superuser, so row-level security binds it."""
    app_password: SecretStr | None = None
    """Password of ``app_role`` (none: trust or peer authentication)."""
    pool_min_size: int = 2
    """Connections the pool keeps open."""
    pool_max_size: int = 20
    """Most connections the pool opens."""
    pool_timeout_s: float = 2.0
    """How long a call waits for a connection before it answers UNAVAILABLE."""
    statement_timeout_ms: int = 30_000
    """Longest a statement may run."""
    random_page_cost: float = 1.1
    """The planner's cost of a random page read relative to a sequential one. 1.1 fits SSDs and cloud disks
    (PostgreSQL's default, 4, models spinning disks and makes it prefer scanning whole partitions)."""
    jit: bool = False
    """PostgreSQL's JIT compilation for the server's sessions. Off: compiling a statement takes tens of
    milliseconds and pays off only for long analytical scans; the server's statements run for milliseconds."""
    migrate_on_start: bool = True
    """Apply migrations when the server or worker starts."""
    migrations_dir: Path = REPO_ROOT / "db" / "migrations"
    """Where the versioned SQL migrations are."""


class RedisSettings(BaseModel):
    timeout_s: float = 0.5
    """Socket timeout of Redis commands."""
    retry_after_s: float = 2.0
    """After a Redis failure, how long to use the fallbacks before trying Redis again."""
    key_prefix: str = ""
    """Prepended to every Redis key, so that several deployments (or test runs) can share one Redis."""


DEFAULT_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
MIN_SECRET_BYTES = 32


class AuthSettings(BaseModel):
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    """HS256 signing key of access tokens when no key ring is set. Outside development mode the server refuses
    to start with this default or with fewer than 32 bytes."""
    jwt_keyring_path: Path | None = None
    """A JSON key ring (``insights keys rotate`` writes it): the newest key signs, every key in it verifies (the
    token's ``kid`` picks one). Unset: the ring is ``jwt_secret`` alone."""
    jwt_keyring_check_s: float = 5.0
    """How often, at most, the server looks at the key ring file's modification time and re-reads a changed
    file (rotation without restart)."""
    jwt_issuer: str = "customer-insights"
    """``iss`` of every access token."""
    access_token_ttl_s: int = 3600
    """Lifetime of an access token."""
    refresh_token_ttl_s: int = 7 * 24 * 3600
    """Lifetime of a refresh token (and so of an idle session)."""
    bcrypt_rounds: int = 10
    """bcrypt cost factor."""
    verification_ttl_s: int = 24 * 3600
    """Lifetime of the emailed link that completes a sign-up."""
    password_reset_ttl_s: int = 3600
    """Lifetime of the emailed single-use password reset link."""
    lockout_threshold: int = 10
    """Failed sign-ins for one email from one source address within ``lockout_window_s`` that lock that pair."""
    lockout_window_s: int = 15 * 60
    """Window in which failed sign-ins are counted."""
    lockout_duration_s: int = 15 * 60
    """How long a locked (email, source address) pair stays locked."""
    throttle_threshold: int = 10
    """Failed sign-ins for one email from all sources within ``lockout_window_s`` after which sign-ins from
    sources that never signed in to the account wait a growing delay."""
    throttle_base_delay_s: float = 1.0
    """The first delay once ``throttle_threshold`` is reached; it doubles with every further failure."""
    throttle_max_delay_s: float = 15 * 60
    """The longest delay between sign-in attempts from unknown sources."""
    known_source_days: int = 30
    """A source address that signed in to an account successfully within this many days is known to it: the
    per-email delay does not apply to it."""


class MailSettings(BaseModel):
    host: str = ""
    """SMTP server that delivers verification, notice and password-reset mail. Unset: mail is not sent (logged
    as undeliverable), so sign-up and password reset cannot complete."""
    port: int = 587
    """SMTP port."""
    tls: Literal["none", "starttls", "tls"] = "starttls"
    """``starttls`` (upgrade after connecting), ``tls`` (implicit TLS, port 465) or ``none`` (local sinks only)."""
    username: str = ""
    """SMTP user name (empty: no authentication)."""
    password: SecretStr | None = None
    """SMTP password."""
    from_address: str = "Customer Insights <no-reply@localhost>"
    """The ``From`` of every message."""
    public_url: str = "http://localhost:8080"
    """Base URL of the dashboard that links in mail point to (``/verify-email?token=``, ``/reset-password?token=``)."""
    timeout_s: float = 10.0
    """Deadline of one delivery to the SMTP server."""


class RateLimitSettings(BaseModel):
    ip_per_minute: int = 1000
    """Calls per minute from one client address."""
    auth_ip_per_minute: int = 5
    """Calls per minute from one client address to the authentication endpoints."""
    user_per_minute: int = 100
    """Calls per minute of one signed-in person."""
    api_key_per_minute: int = 6000
    """Calls per minute of one API key: machine clients push event streams."""


class InferenceSettings(BaseModel):
    model_repository: Path = REPO_ROOT / "model_repository"
    """Triton repository: ``sentiment/<version>/model.onnx``, tokenizer.json, labels.json, metrics.json."""
    model_name: str = "sentiment"
    """Model name in the repository (and in Triton)."""
    threads: int = 2
    """Cores the embedded backend runs on: intra-op threads of a batch-invariant model, or texts scored at
    once by a batch-variant one (and the local Triton's model's intra-op threads)."""
    max_batch: int = 32
    """Most texts per model run (Triton's max_batch_size)."""
    batch_window_ms: float = 0.0
    """How long the embedded micro-batcher waits for more texts once one has arrived (0: no waiting)."""
    timeout_s: float = 1.0
    """Fixed part of an on-demand analysis's deadline for the model tier (the per-text and per-window parts are
    added). Only a tier that misses the whole deadline (hung, far behind) gets VADER's answer, as a tier that is
    down does; a slow answer within it is the model's, counted against ``sla_s``."""
    timeout_per_text_s: float = 0.05
    """Deadline added per text of an on-demand analysis."""
    timeout_per_window_s: float = 0.05
    """Deadline added per sentence window (a text longer than 160 characters is scored in windows), about 10x
    what one window takes on 2 cores; also added per row to a Triton attempt's deadline."""
    sla_s: float = 0.5
    """Response-time target of an analysis call: slower answers are logged and counted
    (``insights_sentiment_sla_misses_total``)."""
    triton_attempt_timeout_s: float = 2.0
    """Fixed part of one Triton attempt's deadline, plus ``timeout_per_window_s`` per row it carries (retries
    after 100/200/400 ms while the overall deadline allows)."""
    triton_breaker_threshold: int = 5
    """Consecutive failed Triton attempts that open the circuit."""
    triton_breaker_reset_s: float = 5.0
    """How long the circuit stays open before one probe call is let through."""
    prediction_cache_ttl_s: int = 3600
    """Redis TTL of cached model predictions; 0 disables the cache."""
    rollout_ttl_s: float = 2.0
    """How long a process keeps the model rollouts (stable and candidate version per organization, set by
    ``insights model``) before it reads them again: a promotion or rollback reaches running servers and workers
    within this. 0: read them for every call."""


class WorkerSettings(BaseModel):
    enabled: bool = True
    """Run the analysis worker inside ``insights serve`` (``insights worker`` runs it alone)."""
    batch_size: int = 512
    """Pending interactions claimed per batch (one backend call; the next batch is scored while this one is written
    back). Each batch has fixed costs (the claim, the write-back and its rollups, events, pattern hints): 512 scored
    ~1.3x the rows per second of 128 here, 1,024 fewer again (less overlap)."""
    poll_interval_s: float = 0.25
    """Pause between polls when nothing is pending, or after the model tier failed (a poll is one index probe
    of the pending rows; a short pause keeps a new interaction's sentiment well inside 2 seconds)."""
    inference_timeout_s: float = 30.0
    """Deadline of one batch's model call."""
    lease_s: float = 120.0
    """How long a claim lasts: a worker that dies holding rows leaves them to be claimed again after it."""
    backlog_interval_s: float = 15.0
    """How often the worker reads the backlog for its gauges (pending rows, age of the oldest); 0: never."""
    backlog_count_limit: int = 100_000
    """Most pending rows the backlog gauge counts (a bounded index scan); a bigger backlog reads as this."""
    nice: int = Field(default=10, ge=0, le=19)
    """Least CPU niceness of an ``insights worker`` process: on a host it shares with API servers, on-demand
    analyses get the cores first and the backlog the rest (alone on its host, it changes nothing)."""


class IngestionSettings(BaseModel):
    max_batch: int = 10_000
    """Most events one BatchIngest call may carry."""
    max_stream_events: int = 100_000
    """Most events one IngestStream may carry; later ones are answered as rejected."""
    stream_chunk: int = 500
    """IngestStream stores what arrives in chunks of this many events (durable as it goes)."""
    clock_skew_s: float = 300.0
    """How far in the future a timestamp may be (client clocks drift); later ones are rejected."""
    idempotency_window_days: int = 7
    """How long an idempotency key is remembered; a retry after that may store the event again."""
    edit_lock_wait_ms: int = 2_000
    """How long an edit waits for a row another transaction holds before it answers 409 (modified by
    another request) instead of queueing with a pooled connection and an in-flight request."""


class StreamSettings(BaseModel):
    maxlen: int = 10_000
    """Events kept per organization stream (approximate trim); bounds what a reconnect can replay."""
    ttl_s: int = 7 * 24 * 3600
    """An organization's stream expires this long after its last event."""
    replay_max: int = 1_000
    """Most missed events replayed on resume; beyond that the subscriber gets a "resync" event."""
    heartbeat_s: float = 15.0
    """A subscriber that got nothing for this long (at most twice this) receives a heartbeat event."""
    subscriber_queue: int = 1_000
    """Events buffered per subscriber; a subscriber that falls this far behind is dropped."""
    block_ms: int = 5_000
    """How long one XREAD of an organization's reader blocks before it polls again."""


class QuerySettings(BaseModel):
    default_time_zone: str = "UTC"
    """Zone of an organization created without one; requests may name any IANA zone (``timeZone``)."""
    default_range_days: int = 30
    """Without startDate/endDate a query covers this many local days, today included."""
    max_range_days: int = 3660
    """Longest date range a query may cover."""
    max_buckets: int = 5000
    """Most time buckets one trend may have (e.g. hours over about 7 months)."""
    exact_total_limit: int = 100_000
    """Filters the rollups cannot answer are counted exactly up to this many rows; beyond, the total is an
    estimate (``totalIsEstimate``)."""
    exact_distinct_rows: int = 200_000
    """Unique customers are counted exactly when the period holds at most this many interactions; beyond,
    they are estimated from a 1-in-16 sample of customers (flagged)."""
    max_offset: int = 10_000
    """``page`` x ``pageSize`` may reach this far; deeper pages need ``pageToken``."""
    dashboard_ttl_s: int = 300
    """Cache TTL of aggregations (insights pages, metrics, heatmap, customer lists)."""
    profile_ttl_s: int = 600
    """Cache TTL of customer profiles and their patterns."""
    trends_ttl_s: int = 900
    """Cache TTL of sentiment trends."""
    export_batch: int = 2_000
    """Rows per keyset page (and per streamed chunk) of an export."""
    work_mem_mb: int = 32
    """``work_mem`` of read-side transactions: aggregations and sorts of rollup rows stay in memory."""
    search_similarity: float = 0.3
    """Least trigram word similarity (0..1) for the fuzzy customer look-up."""
    search_limit: int = 500
    """The fuzzy customer look-up ranks at most this many nearest customers."""


class PatternSettings(BaseModel):
    enabled: bool = True
    """Detect behaviour patterns after interactions are scored (in the analysis worker's process)."""
    quiet_s: float = 5.0
    """A customer's detection waits until their interactions have been quiet (not scored) for this long."""
    max_delay_s: float = 60.0
    """... but never longer than this after the first change (a steady stream still gets detections)."""
    lookback_days: int = 30
    """Window of history the detection reads."""
    batch_size: int = 50
    """Due customers claimed per round."""
    lease_s: float = 120.0
    """How long a claimed detection job is held before another worker may take it."""
    poll_interval_s: float = 1.0
    """Pause between rounds when nothing is due."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSIGHTS_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/insights",
        validation_alias=AliasChoices("INSIGHTS_DATABASE_URL", "DATABASE_URL"),
    )
    """Owner connection (migrations); the server swaps in ``db.app_role``."""
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("INSIGHTS_REDIS_URL", "REDIS_URL")
    )
    """``redis://`` or ``unix://`` URL."""
    triton_url: str | None = Field(None, validation_alias=AliasChoices("INSIGHTS_TRITON_URL", "TRITON_URL"))
    """host:port of Triton's gRPC endpoint; unset: embedded ONNX Runtime."""
    descriptor_set: Path = REPO_ROOT / "gateway" / "build" / "insights.pb"
    """The API's descriptor set (``make protos``), which Envoy loads for REST transcoding."""
    log_level: str = "INFO"
    """Level of the JSON logs on stderr."""
    environment: Literal["production", "development"] = "production"
    """``development`` (what `make up` sets) is the only mode that starts with the default or a short JWT secret;
    every other protection is the same in both."""
    web_dist: Path | None = None
    """The dashboard's build (``make web``: web/dist) that Envoy serves at ``/``; unset: the API only."""

    network: NetworkSettings = NetworkSettings()
    gateway: GatewaySettings = GatewaySettings()
    db: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    auth: AuthSettings = AuthSettings()
    mail: MailSettings = MailSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    inference: InferenceSettings = InferenceSettings()
    worker: WorkerSettings = WorkerSettings()
    ingestion: IngestionSettings = IngestionSettings()
    stream: StreamSettings = StreamSettings()
    query: QuerySettings = QuerySettings()
    patterns: PatternSettings = PatternSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@dataclass(frozen=True)
class Variable:
    """One environment variable Settings reads: its names, default (as shown) and meaning."""

    names: tuple[str, ...]
    default: str
    doc: str


def variables(model: type[BaseModel] = Settings, env_prefix: str = "INSIGHTS_") -> list[Variable]:
    """Every environment variable a settings model reads, nested groups included, in field order."""
    docs = _docstrings(model)
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += variables(annotation, f"{env_prefix}{name.upper()}__")
            continue
        alias = field.validation_alias
        names = tuple(map(str, alias.choices)) if isinstance(alias, AliasChoices) else (f"{env_prefix}{name.upper()}",)
        default = field.default
        if isinstance(default, SecretStr):
            shown = "a development value"
        elif isinstance(default, Path):
            shown = str(default.relative_to(REPO_ROOT)) if default.is_relative_to(REPO_ROOT) else str(default)
        else:
            shown = "unset" if default is None else str(default) or "empty"
        found.append(Variable(names, shown, docs.get(name, "")))
    return found


def _docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string literal that follows each field's assignment in the class body."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(model)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(following, ast.Expr):
            value: Any = following.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                if isinstance(target, ast.Name):
                    docs[target.id] = " ".join(value.value.split())
    return docs


def markdown_table() -> str:
    """README's configuration table, generated from the fields above (a unit test keeps them equal)."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for variable in variables():
        lines.append(f"| `{' / '.join(variable.names)}` | `{variable.default}` | {variable.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
