"""Versioned migrations (yoyo, SQL files in ``db/migrations``) and the application role.

Run by ``insights migrate`` and on server start-up. Uses the owner connection; the server
itself later connects as ``db_app_role``, which gets only the grants below.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from yoyo import get_backend, read_migrations

from insights.infra.logging import get_logger
from insights.settings import Settings

log = get_logger(__name__)

TENANT_TABLES = (
    "organizations",
    "users",
    "refresh_tokens",
    "api_keys",
    "customers",
    "customer_interactions",
    "behavior_patterns",
    "ingest_idempotency",
    "ingest_batch_idempotency",
    "password_reset_tokens",
    "pattern_jobs",
)
# Tables without a tenant (nothing is known about the caller yet): sign-in throttling and pending sign-ups.
PRE_TENANT_TABLES = ("login_failures", "login_throttle", "login_known_sources", "pending_registrations")
READ_ONLY_TABLES = ("interaction_rollup_hourly", "interaction_rollup_daily", "interaction_rollup_daily_totals",
                    "interaction_rollup_hourly_totals", "interaction_rollup_quarter_totals", "model_rollouts")
"""Written only by the rollup triggers or the ``insights model`` commands (as the owner): the application role
may read them, nothing else."""


def _yoyo_url(database_url: str) -> str:
    scheme, rest = database_url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else database_url


def ensure_database(settings: Settings) -> None:
    """Create the target database when it does not exist (a fresh machine, a test run)."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    dbname = str(params.get("dbname") or "postgres")
    params["dbname"] = "postgres"
    with psycopg.connect(psycopg.conninfo.make_conninfo(**params), autocommit=True) as conn:  # type: ignore[arg-type]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            log.info("database.created", dbname=dbname)


def apply_migrations(settings: Settings) -> int:
    ensure_database(settings)
    backend = get_backend(_yoyo_url(settings.database_url))
    migrations = read_migrations(str(settings.db.migrations_dir))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    _grant_app_role(settings)
    _ensure_partitions(settings)
    log.info("migrations.applied", count=len(pending))
    return len(pending)


def _grant_app_role(settings: Settings) -> None:
    role = sql.Identifier(settings.db.app_role)
    with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.transaction():
        # Roles are cluster-wide; several databases (test runs) may share one. Serialize creation.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('insights_app_role'))")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.db.app_role,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(role)
            )
        if settings.db.app_password is not None:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    role, sql.Literal(settings.db.app_password.get_secret_value())
                )
            )
        dbname = conn.info.dbname
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), role))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in TENANT_TABLES)
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(tables, role))
        # Partitions are reached through the parent; retention drops them as the owner.
        pre_tenant = sql.SQL(", ").join(sql.Identifier(t) for t in PRE_TENANT_TABLES)
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(pre_tenant, role))
        read_only = sql.SQL(", ").join(sql.Identifier(t) for t in READ_ONLY_TABLES)
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(read_only, role))
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON audit_log TO {}").format(role))
        conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(role))


def _ensure_partitions(settings: Settings) -> None:
    """Monthly interaction partitions up to three months ahead, so that new rows never pile up in
    the default partition (the retention job does the same on every run)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SELECT ensure_interaction_partitions(date_trunc('month', now())::date, 4)")
