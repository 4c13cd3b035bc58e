"""PostgreSQL access: the pool, tenant-scoped transactions and migrations."""

from insights.db.pool import Database

__all__ = ["Database"]
