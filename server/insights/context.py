"""Who is calling, from where, under which request id: set once per call by the gRPC boundary."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person (JWT) or a machine client (organization API key)."""

    kind: Literal["user", "api_key"]
    id: UUID
    organization_id: UUID
    permissions: frozenset[str]
    role: str | None = None
    session_id: UUID | None = None
    token_id: str | None = None
    token_expires_at: int | None = None
    """Unix time the access token expires (users only)."""

    def can(self, permission: str) -> bool:
        return not permission or permission in self.permissions


@dataclass(frozen=True)
class CallContext:
    request_id: str
    client_ip: str
    user_agent: str = ""
    principal: Principal | None = field(default=None)

    def require_principal(self) -> Principal:
        from insights.errors import AuthenticationError

        if self.principal is None:
            raise AuthenticationError("Authentication required")
        return self.principal


current_call: ContextVar[CallContext] = ContextVar("current_call")
