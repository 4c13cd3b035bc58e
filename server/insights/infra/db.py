"""The connection pool and the one way to touch tenant data: ``tenant_tx``.

Every tenant transaction sets ``app.organization_id`` (transaction-local), which the
row-level-security policies read. A query that forgets its ``organization_id`` filter still
sees only the caller's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from insights.errors import UnavailableError
from insights.settings import Settings

Conn = AsyncConnection[DictRow]


def app_conninfo(settings: Settings) -> str:
    """The owner URL with the application role swapped in."""
    params = conninfo_to_dict(settings.database_url)
    params["user"] = settings.db.app_role
    if settings.db.app_password is not None:
        params["password"] = settings.db.app_password.get_secret_value()
    else:
        params.pop("password", None)
    params.setdefault("application_name", "insights")
    return make_conninfo(**params)  # type: ignore[arg-type]


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            app_conninfo(settings),
            min_size=settings.db.pool_min_size,
            max_size=settings.db.pool_max_size,
            timeout=settings.db.pool_timeout_s,
            kwargs={
                "row_factory": dict_row,
                "options": f"-c statement_timeout={settings.db.statement_timeout_ms}"
                " -c idle_in_transaction_session_timeout=600000"
                f" -c random_page_cost={settings.db.random_page_cost}"
                f" -c jit={'on' if settings.db.jit else 'off'}",
            },
            # A connection broken by a database restart is noticed at checkout and replaced,
            # so the first call after the restart succeeds instead of failing.
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=float("inf"),
            open=False,
            name="insights",
        )

    async def open(self, wait: bool = True) -> None:
        await self.pool.open(wait=wait, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled connection; database outages surface as ``UnavailableError``."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except PoolTimeout:
            # No connection came free in time: every one busy (load) or none can be made (an outage).
            raise UnavailableError("Database busy or temporarily unavailable", retry_after_s=1) from None
        except psycopg.OperationalError:
            raise UnavailableError("Database temporarily unavailable", retry_after_s=1) from None

    @asynccontextmanager
    async def tenant_tx(self, organization_id: UUID, work_mem_mb: int | None = None) -> AsyncIterator[Conn]:
        """A transaction in which row-level security admits only ``organization_id``'s rows (``work_mem_mb``:
        the transaction's work_mem, set in the same round trip)."""
        async with self.connection() as conn, conn.transaction():
            if work_mem_mb is None:
                await conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(organization_id),))
            else:
                await conn.execute(
                    "SELECT set_config('app.organization_id', %s, true), set_config('work_mem', %s, true)",
                    (str(organization_id), f"{int(work_mem_mb)}MB"))
            yield conn

    @asynccontextmanager
    async def global_tx(self) -> AsyncIterator[Conn]:
        """A transaction with no tenant: only non-tenant tables and the auth look-up functions."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")
