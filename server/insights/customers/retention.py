"""Data retention (GDPR: interactions are deleted after two years by default): ``insights retention``.

Interactions older than their organization's ``retention_days`` (default 730) are deleted:

* a whole monthly partition is dropped when every organization's retention allows it (its upper
  bound is older than the longest retention), which costs no row-by-row work and leaves no bloat;
* what remains is deleted per organization with DELETE (shorter retentions, the default partition).

Idempotency keys older than the idempotency window (7 days, far shorter than any sensible
retention) are deleted too; a key can outlive its interaction only when an organization keeps data
for less than the window, and then a retry answers "duplicate" for an event that is gone.
Each run also creates the monthly partitions of the next months. Every organization whose data was
deleted gets an audit entry, and the run itself one more. Runs as the database owner (dropping
partitions needs it; row-level security does not bind the owner), from cron or a Kubernetes CronJob.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from insights.infra.logging import get_logger
from insights.settings import Settings

log = get_logger(__name__)

DEFAULT_RETENTION_DAYS = 730
_PARTITION = re.compile(r"^customer_interactions_(\d{4})(\d{2})$")


@dataclass
class RetentionReport:
    partitions_created: int = 0
    partitions_dropped: dict[str, int] = field(default_factory=dict)
    """Dropped partition → rows it held."""
    deleted_by_organization: dict[str, int] = field(default_factory=dict)
    idempotency_keys_deleted: int = 0

    @property
    def affected_organizations(self) -> list[str]:
        """Organizations whose interactions were deleted (every one, when a partition was dropped)."""
        return sorted(set(self.deleted_by_organization) | set(self.organizations_in_dropped))

    organizations_in_dropped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _month_after(year: int, month: int) -> datetime:
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _audit(conn: psycopg.Connection[Any], organization_id: UUID | None, action: str, details: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO audit_log (organization_id, actor_type, action, resource_type, details)"
        " VALUES (%s, 'system', %s, 'customer_interactions', %s)",
        (organization_id, action, Jsonb(details)),
    )


def run_retention(settings: Settings, *, now: datetime | None = None) -> RetentionReport:
    now = now or datetime.now(UTC)
    report = RetentionReport()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        # Dropping a partition locks the parent table: never wait long behind ingestion for it.
        conn.execute("SET lock_timeout = '5s'")
        row = conn.execute(
            "SELECT ensure_interaction_partitions(%s, 4)", (date(now.year, now.month, 1),)
        ).fetchone()
        report.partitions_created = int(row[0]) if row else 0

        organizations = conn.execute("SELECT id, retention_days FROM organizations ORDER BY id").fetchall()
        longest = max((days for _, days in organizations), default=DEFAULT_RETENTION_DAYS)
        droppable_before = now - timedelta(days=longest)

        partitions = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'customer_interactions'::regclass ORDER BY c.relname"
        ).fetchall()
        for (name,) in partitions:
            match = _PARTITION.match(name)
            if not match or _month_after(int(match[1]), int(match[2])) > droppable_before:
                continue
            with conn.transaction():
                # The rollups forget the partition's rows first (a DROP fires no trigger), under a lock that
                # keeps writers out until the DROP commits.
                conn.execute("SELECT rollup_forget_partition(%s::regclass)", (name,))
                held = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                orgs = conn.execute(f'SELECT DISTINCT organization_id FROM "{name}"').fetchall()
                report.organizations_in_dropped += [str(o[0]) for o in orgs]
                conn.execute(f'DROP TABLE "{name}"')
            report.partitions_dropped[name] = int(held[0]) if held else 0
            log.info("retention.partition_dropped", partition=name)

        for organization_id, days in organizations:
            cutoff = now - timedelta(days=days)
            with conn.transaction():
                deleted = conn.execute(
                    "DELETE FROM customer_interactions WHERE organization_id = %s AND timestamp < %s",
                    (organization_id, cutoff),
                ).rowcount
                if deleted:
                    report.deleted_by_organization[str(organization_id)] = deleted
                    _audit(conn, organization_id, "retention.deleted",
                           {"interactions": deleted, "olderThan": cutoff.isoformat(), "retentionDays": days})

        window = now - timedelta(days=settings.ingestion.idempotency_window_days)
        expire = sql.SQL("DELETE FROM {} WHERE created_at < %s")
        report.idempotency_keys_deleted = sum(
            conn.execute(expire.format(sql.Identifier(table)), (window,)).rowcount
            for table in ("ingest_idempotency", "ingest_batch_idempotency")
        )
        _audit(conn, None, "retention.run", report.as_dict())
    log.info("retention.done", **report.as_dict())
    return report
