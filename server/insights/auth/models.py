"""What the authentication core returns; the gRPC layer converts these to protobuf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from insights.auth.permissions import effective_permissions


@dataclass(frozen=True)
class UserView:
    id: UUID
    email: str
    first_name: str
    last_name: str
    role: str
    permissions: frozenset[str]
    organization_id: UUID
    organization_name: str
    created_at: datetime
    last_login_at: datetime | None
    token_version: int
    is_active: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UserView:
        return cls(
            id=row["id"],
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            role=row["role"],
            permissions=effective_permissions(row["role"], row["permissions"]),
            organization_id=row["organization_id"],
            organization_name=row.get("organization_name") or "",
            created_at=row["created_at"],
            last_login_at=row["last_login_at"],
            token_version=row["token_version"],
            is_active=row["is_active"],
        )


@dataclass(frozen=True)
class AuthResult:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserView


@dataclass(frozen=True)
class ApiKeyView:
    id: UUID
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiKeyView:
        return cls(
            id=row["id"],
            name=row["name"],
            prefix=row["prefix"],
            permissions=list(row["permissions"]),
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )
