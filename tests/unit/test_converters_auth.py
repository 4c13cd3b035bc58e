"""AuthService conversions (api/converters/auth.py): users, API keys, and the signed-in answer that Login,
Refresh and VerifyEmail share."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from insights.api.converters.auth import api_key, signed_in, user
from insights.api.converters.common import to_datetime
from insights.auth.models import ApiKeyView, AuthResult, UserView
from insights.v1 import auth_pb2

WHEN = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def make_user(**changes: Any) -> UserView:
    values: dict[str, Any] = dict(
        id=uuid.uuid4(), email="ada@example.com", first_name="Ada", last_name="Lovelace", role="analyst",
        permissions=frozenset({"stream:read", "analysis:run", "insights:read"}), organization_id=uuid.uuid4(),
        organization_name="Analytical Engines", created_at=WHEN, last_login_at=WHEN + timedelta(hours=1),
        token_version=4, is_active=True,
    )
    values.update(changes)
    return UserView(**values)


def test_user_carries_every_field_with_sorted_permissions() -> None:
    """Permissions come sorted, so answers are stable."""
    view = make_user()
    message = user(view)
    assert (message.id, message.email, message.first_name, message.last_name, message.role) == (
        str(view.id), "ada@example.com", "Ada", "Lovelace", "analyst")
    assert list(message.permissions) == ["analysis:run", "insights:read", "stream:read"]
    assert (message.organization_id, message.organization_name, message.active) == (
        str(view.organization_id), "Analytical Engines", True)
    assert to_datetime(message.created_at) == WHEN
    assert to_datetime(message.last_login_at) == WHEN + timedelta(hours=1)


def test_a_user_who_never_signed_in_has_no_last_login() -> None:
    """An absent time is an unset field, not the epoch."""
    message = user(make_user(last_login_at=None, is_active=False))
    assert not message.HasField("last_login_at")
    assert message.active is False


@pytest.mark.parametrize("response", [auth_pb2.LoginResponse, auth_pb2.RefreshResponse, auth_pb2.VerifyEmailResponse])
def test_signed_in_answers_share_their_fields(response: Any) -> None:
    """Login, Refresh and VerifyEmail: {accessToken, refreshToken, tokenType, expiresIn, user}."""
    view = make_user()
    message = signed_in(response, AuthResult(access_token="a.b.c", refresh_token="opaque", expires_in=3600,
                                             user=view))
    assert type(message) is response
    assert (message.access_token, message.refresh_token, message.token_type, message.expires_in) == (
        "a.b.c", "opaque", "Bearer", 3600)
    assert message.user == user(view)


def test_api_key_shows_its_prefix_never_the_key() -> None:
    """Listing keys reveals only their prefix; the ApiKey message has no field for the key."""
    view = ApiKeyView(id=uuid.uuid4(), name="loader", prefix="ik_3f9a", permissions=["data:ingest"],
                      created_at=WHEN, last_used_at=None, revoked_at=WHEN + timedelta(days=1))
    message = api_key(view)
    assert (message.id, message.name, message.prefix, list(message.permissions)) == (
        str(view.id), "loader", "ik_3f9a", ["data:ingest"])
    assert not message.HasField("last_used_at")
    assert to_datetime(message.revoked_at) == WHEN + timedelta(days=1)
    assert {f.name for f in auth_pb2.ApiKey.DESCRIPTOR.fields}.isdisjoint({"key", "secret", "key_hash"})
