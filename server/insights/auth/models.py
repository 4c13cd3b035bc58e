"""Typed, frozen objects of the authentication core. ``auth/repository.py`` builds them from rows; the gRPC
layer converts them to protobuf. Nothing outside a repository sees a database row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class UserView:
    id: UUID
    email: str
    first_name: str
    last_name: str
    role: str
    permissions: frozenset[str]
    """Effective: the role's plus the ones granted individually."""
    organization_id: UUID
    organization_name: str
    created_at: datetime
    last_login_at: datetime | None
    token_version: int
    is_active: bool


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


@dataclass(frozen=True)
class SessionView:
    """A signed-in device: one refresh-token family. ``last_used_at`` is its latest rotation."""

    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_ip: str
    user_agent: str
    current: bool = False


@dataclass(frozen=True)
class Account:
    """What sign-in needs to know about an email, before the tenant is known."""

    id: UUID
    organization_id: UUID
    password_hash: str
    is_active: bool


@dataclass(frozen=True)
class RefreshTokenRecord:
    id: UUID
    organization_id: UUID
    user_id: UUID
    family_id: UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SessionState:
    """Who owns a session and whether it may still be used."""

    user_id: UUID
    organization_id: UUID
    token_version: int
    is_active: bool
    revoked: bool


@dataclass(frozen=True)
class ApiKeyRecord:
    id: UUID
    organization_id: UUID
    permissions: list[str]
    revoked_at: datetime | None


@dataclass(frozen=True)
class PendingRegistration:
    email: str
    password_hash: str
    first_name: str
    last_name: str
    organization_name: str


@dataclass(frozen=True)
class ResetTokenRecord:
    id: UUID
    organization_id: UUID
    user_id: UUID
    expires_at: datetime
    used_at: datetime | None
