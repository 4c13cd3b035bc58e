"""Property 1 (token validity), the key ring, and the password policy, on the core objects directly."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from insights.auth.keyring import KeyRing, kid_for_secret
from insights.auth.passwords import PasswordHasher, password_policy_violations
from insights.auth.tokens import TokenService
from insights.errors import AuthenticationError
from insights.settings import AuthSettings

SECRET = "unit-test-secret-0123456789abcdef0123"
_SETTINGS = AuthSettings(jwt_secret=SecretStr(SECRET))
SERVICE = TokenService(_SETTINGS, KeyRing.from_settings(_SETTINGS, development=False))


def _issue(role: str = "analyst") -> str:
    return SERVICE.issue_access(
        user_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        role=role,
        permissions=frozenset({"insights:read"}),
        token_version=3,
        session_id=uuid.uuid4(),
    )


@given(role=st.sampled_from(["admin", "analyst", "viewer"]), version=st.integers(0, 10_000))
def test_issued_tokens_verify_with_their_claims(role: str, version: int) -> None:
    user, org, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = SERVICE.issue_access(
        user_id=user,
        organization_id=org,
        role=role,
        permissions=frozenset(),
        token_version=version,
        session_id=session,
    )
    claims = SERVICE.decode_access(token)
    assert (claims.user_id, claims.organization_id, claims.role, claims.token_version, claims.session_id) == (
        user,
        org,
        role,
        version,
        session,
    )
    assert claims.expires_at > time.time()


@settings(max_examples=200)
@given(position=st.integers(min_value=0), replacement=st.characters(whitelist_categories=("Lu", "Ll", "Nd")))
def test_any_single_character_change_is_rejected(position: int, replacement: str) -> None:
    token = _issue()
    index = position % len(token)
    if token[index] == replacement or token[index] == ".":
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        claims = SERVICE.decode_access(tampered)
    except AuthenticationError:
        return
    # base64url's last character can carry unused bits; a change there may decode to the same bytes.
    assert claims == SERVICE.decode_access(token)


def test_other_algorithms_and_refresh_shaped_tokens_are_rejected() -> None:
    claims = jwt.decode(_issue(), options={"verify_signature": False})
    kid = {"kid": kid_for_secret(SECRET)}
    assert SERVICE.decode_access(jwt.encode(claims, SECRET, algorithm="HS256", headers=kid))
    for token in (
        jwt.encode(claims, SECRET, algorithm="HS512", headers=kid),
        jwt.encode({**claims, "typ": "refresh"}, SECRET, algorithm="HS256", headers=kid),
        jwt.encode({**claims, "iss": "someone-else"}, SECRET, algorithm="HS256", headers=kid),
        jwt.encode(claims, SECRET, algorithm="HS256"),  # no kid
        jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k-unknown"}),
    ):
        with pytest.raises(AuthenticationError):
            SERVICE.decode_access(token)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt!", "12 characters"),
        ("alllowercase-1!", "uppercase"),
        ("ALLUPPERCASE-1!", "lowercase"),
        ("No-Digits-Here!", "digit"),
        ("NoSymbols12345", "symbol"),
        ("Password1234!", "common password"),
    ],
)
def test_password_policy_names_each_problem(password: str, problem: str) -> None:
    assert any(problem in p for p in password_policy_violations(password))


def test_strong_password_passes_and_long_passwords_hash_consistently() -> None:
    assert password_policy_violations("Corr3ct-Horse-Battery!") == []


async def test_unknown_user_path_still_runs_bcrypt_and_fails() -> None:
    hasher = PasswordHasher(rounds=4)
    long_password = "Ä" * 100  # > 72 bytes: cut identically on hash and verify
    stored = await hasher.hash(long_password)
    assert await hasher.verify(long_password, stored)
    assert not await hasher.verify(long_password, None)
