"""Domain objects ⇄ protobuf messages. Servicers call these and nothing else does."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from insights.auth.models import ApiKeyView, AuthResult, UserView
from insights.v1 import auth_pb2


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def user(view: UserView) -> auth_pb2.User:
    return auth_pb2.User(
        id=str(view.id),
        email=view.email,
        first_name=view.first_name,
        last_name=view.last_name,
        role=view.role,
        permissions=sorted(view.permissions),
        organization_id=str(view.organization_id),
        organization_name=view.organization_name,
        created_at=timestamp(view.created_at),
        last_login_at=timestamp(view.last_login_at),
    )


def auth_response(result: AuthResult) -> auth_pb2.AuthResponse:
    return auth_pb2.AuthResponse(
        access_token=result.access_token,
        refresh_token=result.refresh_token,
        token_type="Bearer",
        expires_in=result.expires_in,
        user=user(result.user),
    )


def api_key(view: ApiKeyView) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=str(view.id),
        name=view.name,
        prefix=view.prefix,
        permissions=view.permissions,
        created_at=timestamp(view.created_at),
        last_used_at=timestamp(view.last_used_at),
        revoked_at=timestamp(view.revoked_at),
    )
