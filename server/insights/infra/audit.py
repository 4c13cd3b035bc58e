"""The append-only audit log: who did what to which resource, from where."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from insights.context import CallContext
from insights.infra.db import Conn, Database
from insights.infra.logging import get_logger

log = get_logger(__name__)

_INSERT = """
INSERT INTO audit_log (organization_id, actor_type, actor_id, action, resource_type, resource_id,
                       client_ip, request_id, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        ctx: CallContext,
        action: str,
        *,
        conn: Conn | None = None,
        organization_id: UUID | None = None,
        actor_id: UUID | None = None,
        actor_type: str | None = None,
        resource_type: str | None = None,
        resource_id: str | UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write one entry; inside ``conn``'s transaction when given, so it commits with the change."""
        principal = ctx.principal
        if principal is not None:
            organization_id = organization_id or principal.organization_id
            actor_id = actor_id or principal.id
            actor_type = actor_type or principal.kind
        params = (
            organization_id,
            actor_type or ("user" if actor_id else "anonymous"),
            actor_id,
            action,
            resource_type,
            str(resource_id) if resource_id is not None else None,
            ctx.client_ip,
            ctx.request_id,
            Jsonb(details or {}),
        )
        log.info("audit", action=action, resource_type=resource_type, resource_id=str(resource_id or ""))
        if conn is not None:
            await conn.execute(_INSERT, params)
            return
        if organization_id is not None:
            async with self._db.tenant_tx(organization_id) as own:
                await own.execute(_INSERT, params)
        else:
            async with self._db.global_tx() as own:
                await own.execute(_INSERT, params)
