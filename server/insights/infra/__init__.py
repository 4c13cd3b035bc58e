"""Infrastructure shared by every context: PostgreSQL, Redis, rate limits, health, audit, logging.

Nothing here imports a bounded context (checked by the import-linter contracts in pyproject.toml).
"""
