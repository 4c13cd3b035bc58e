"""Roles and the permissions they carry. Methods declare the permission they need in the protos."""

from __future__ import annotations

from collections.abc import Iterable

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"insights:read", "stream:read"}),
    "analyst": frozenset({"insights:read", "stream:read", "analysis:run", "data:ingest", "data:write"}),
    "admin": frozenset(
        {
            "insights:read",
            "stream:read",
            "analysis:run",
            "data:ingest",
            "data:write",
            "customers:manage",
            "users:manage",
            "apikeys:manage",
        }
    ),
}
ROLES = tuple(ROLE_PERMISSIONS)
ALL_PERMISSIONS = ROLE_PERMISSIONS["admin"]


def effective_permissions(role: str, extra: Iterable[str] = ()) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset()) | frozenset(p for p in extra if p in ALL_PERMISSIONS)
