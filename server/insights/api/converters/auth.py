"""Protobuf <-> domain for AuthService."""

from __future__ import annotations

from typing import Protocol, TypeVar

from insights.api.converters.common import timestamp
from insights.auth.models import ApiKeyView, AuthResult, SessionView, UserView
from insights.v1 import auth_pb2


class _SignedIn(Protocol):
    def __init__(
        self, *, access_token: str, refresh_token: str, token_type: str, expires_in: int, user: auth_pb2.User
    ) -> None: ...


SignedIn = TypeVar("SignedIn", bound=_SignedIn)


def user(view: UserView) -> auth_pb2.User:
    return auth_pb2.User(
        id=str(view.id), email=view.email, first_name=view.first_name, last_name=view.last_name, role=view.role,
        permissions=sorted(view.permissions), organization_id=str(view.organization_id),
        organization_name=view.organization_name, created_at=timestamp(view.created_at),
        last_login_at=timestamp(view.last_login_at), active=view.is_active,
    )


def signed_in(response: type[SignedIn], result: AuthResult) -> SignedIn:
    """Login, Refresh and VerifyEmail answer with the same fields (one message type each)."""
    return response(
        access_token=result.access_token, refresh_token=result.refresh_token, token_type="Bearer",
        expires_in=result.expires_in, user=user(result.user),
    )


def api_key(view: ApiKeyView) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=str(view.id), name=view.name, prefix=view.prefix, permissions=view.permissions,
        created_at=timestamp(view.created_at), last_used_at=timestamp(view.last_used_at),
        revoked_at=timestamp(view.revoked_at),
    )


def session(view: SessionView) -> auth_pb2.Session:
    return auth_pb2.Session(
        id=str(view.id), created_at=timestamp(view.created_at), last_used_at=timestamp(view.last_used_at),
        expires_at=timestamp(view.expires_at), client_ip=view.client_ip, user_agent=view.user_agent,
        current=view.current,
    )
