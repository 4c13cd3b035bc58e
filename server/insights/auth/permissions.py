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


def beyond(holder: frozenset[str], wanted: Iterable[str]) -> frozenset[str]:
    """What ``wanted`` holds that ``holder`` lacks: empty when ``holder`` may grant (or act on) all of it.

    The one rule for handing out access: a principal may create users and keys, and disable or enable
    users, only within its own permissions. Nobody grants what they do not have."""
    return frozenset(wanted) - holder


def beyond_role(holder: frozenset[str], role: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """What a user of ``role`` with ``extra`` permissions would hold beyond ``holder``."""
    return beyond(holder, effective_permissions(role, extra))
