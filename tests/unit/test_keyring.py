"""The JWT key ring: the newest key signs, every key in the ring verifies, nothing else does; rotation and
retirement through the file (re-read without a restart); keys that others could sign with are refused."""

from __future__ import annotations

import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from insights.auth import keyring
from insights.auth.keyring import InsecureKeys, KeyRing, SigningKey
from insights.auth.tokens import TokenService
from insights.errors import AuthenticationError
from insights.settings import DEFAULT_JWT_SECRET, AuthSettings

NOW = datetime.now(UTC)


def _ring(path: Path, *ages_h: float) -> list[SigningKey]:
    keys = [keyring.new_key(NOW - timedelta(hours=age)) for age in ages_h]
    keyring.write_ring(path, keys)
    return keys


def _service(path: Path) -> tuple[TokenService, KeyRing]:
    auth = AuthSettings(jwt_keyring_path=path, jwt_keyring_check_s=0)
    ring = KeyRing.from_settings(auth, development=False)
    return TokenService(auth, ring), ring


def _token(service: TokenService) -> str:
    return service.issue_access(
        user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role="viewer", permissions=frozenset(),
        token_version=0, session_id=uuid.uuid4(),
    )


def test_newest_key_signs_and_every_key_in_the_ring_verifies(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    old, new = _ring(path, 30, 1)
    service, _ = _service(path)
    token = _token(service)
    assert jwt.get_unverified_header(token)["kid"] == new.kid
    claims = jwt.decode(token, options={"verify_signature": False})
    by_old_key = jwt.encode(claims, old.secret, algorithm="HS256", headers={"kid": old.kid})
    assert service.decode_access(by_old_key).user_id == service.decode_access(token).user_id


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # forging with weak keys is the point
@settings(max_examples=50)
@given(secret=st.text(min_size=1, max_size=80), kid=st.text(min_size=1, max_size=20))
def test_a_token_signed_with_any_key_outside_the_ring_is_refused(tmp_path_factory: pytest.TempPathFactory,
                                                                   secret: str, kid: str) -> None:
    path = tmp_path_factory.mktemp("ring") / "ring.json"
    keys = _ring(path, 2, 1)
    service, _ = _service(path)
    claims = jwt.decode(_token(service), options={"verify_signature": False})
    for header_kid in (kid, *(k.kid for k in keys)):  # an unknown kid, or a kid of ours with a foreign secret
        if any(k.kid == header_kid and k.secret == secret for k in keys):
            continue
        forged = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": header_kid})
        with pytest.raises(AuthenticationError):
            service.decode_access(forged)
    with pytest.raises(AuthenticationError):  # no kid at all, even signed with a key of the ring
        service.decode_access(jwt.encode(claims, keys[-1].secret, algorithm="HS256"))


def test_rotation_and_retirement_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    oldest, older = _ring(path, 3, 2)
    service, ring = _service(path)
    before = _token(service)

    added = keyring.rotate(path)
    assert ring.signing_key.kid == added.kid  # check_s=0: the very next use re-reads the changed file
    after = _token(service)
    assert jwt.get_unverified_header(after)["kid"] == added.kid
    assert service.decode_access(before) and service.decode_access(after)

    # ``oldest`` was superseded 2 h ago (longer than a 1 h token lives): its tokens have expired, it can go;
    # ``older`` was superseded just now and stays until its last tokens expire.
    assert keyring.retire(path, access_token_ttl_s=3600, grace_s=5) == [oldest.kid]
    assert set(ring.kids) == {older.kid, added.kid}
    assert service.decode_access(before)  # signed by ``older``
    assert keyring.retire(path, access_token_ttl_s=3600, grace_s=5) == []
    assert json.loads(path.read_text())["keys"][-1]["kid"] == added.kid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_broken_ring_file_leaves_the_ring_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    (key,) = _ring(path, 1)
    service, ring = _service(path)
    token = _token(service)
    for broken in ("{not json", '{"keys": []}', json.dumps({"keys": [{"kid": "k", "secret": "short",
                                                                        "created": NOW.isoformat()}]})):
        path.write_text(broken)
        assert ring.signing_key.kid == key.kid
        assert service.decode_access(token)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [(DEFAULT_JWT_SECRET, "built-in development secret"), ("x" * 31, "shorter than 32 bytes")],
)
def test_a_default_or_short_secret_is_refused_outside_development_mode(secret: str, problem: str) -> None:
    auth = AuthSettings(jwt_secret=SecretStr(secret))
    with pytest.raises(InsecureKeys, match=problem):
        KeyRing.from_settings(auth, development=False)
    assert KeyRing.from_settings(auth, development=True).signing_key.secret == secret
    assert KeyRing.from_settings(AuthSettings(jwt_secret=SecretStr("y" * 32)), development=False)


def test_a_ring_with_a_weak_key_or_no_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    with pytest.raises(InsecureKeys, match="cannot read"):
        KeyRing.from_settings(AuthSettings(jwt_keyring_path=path), development=True)
    keyring.write_ring(path, [keyring.new_key(), SigningKey("k-weak", "short", NOW)])
    with pytest.raises(InsecureKeys, match="k-weak is shorter"):
        KeyRing.from_settings(AuthSettings(jwt_keyring_path=path), development=False)
