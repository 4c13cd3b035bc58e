"""JWT key rotation through Envoy, without a restart, by the ``insights keys`` command; and a server that would
accept forged tokens refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from insights.auth import keyring
from tests.support import REPO_ROOT, Stack, bearer, claims_of, forge_token, login, register, wait_until


@pytest.fixture(scope="module")
def ring_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ring") / "jwt-keys.json"
    now = datetime.now(UTC)
    # Two keys from the past: the oldest was superseded 2 h ago, longer than a token lives.
    keyring.write_ring(path, [keyring.new_key(now - timedelta(hours=3)), keyring.new_key(now - timedelta(hours=2))])
    return path


@pytest.fixture(scope="module")
def ringed(database_url: str, redis_url: str, ring_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(database_url, redis_url, tmp_path_factory.mktemp("keyring-stack"), extra_env={
        "INSIGHTS_AUTH__JWT_KEYRING_PATH": str(ring_path), "INSIGHTS_AUTH__JWT_KEYRING_CHECK_S": "0.2",
        "INSIGHTS_WORKER__ENABLED": "false",
    }).start()
    yield stack
    stack.stop()


def _keys_command(ring_path: Path, action: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    done = subprocess.run([sys.executable, "-m", "insights", "keys", action, "--path", str(ring_path)], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(k.secret not in done.stdout for k in keyring.read_ring(ring_path))  # never prints a secret
    return done.stdout


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_rotation_and_retirement_take_effect_without_a_restart(ringed: Stack, ring_path: Path) -> None:
    oldest, older = keyring.read_ring(ring_path)
    with ringed.client() as setup:
        session = register(setup)
    email = session["user"]["email"]
    assert _kid(session["accessToken"]) == older.kid  # the newest key signs
    claims = claims_of(session["accessToken"])
    by_oldest = forge_token(claims, secret=oldest.secret, kid=oldest.kid)
    pid = ringed.server.pid if ringed.server else None
    with ringed.client() as http:
        assert http.get("/api/auth/me", headers=bearer(by_oldest)).status_code == 200  # still in the ring
        for forged in (forge_token(claims, secret="z" * 48, kid=older.kid),  # our kid, another secret
                       forge_token(claims, secret=older.secret, kid="k-unknown"),
                       jwt.encode(claims, older.secret, algorithm="HS256")):  # no kid
            assert http.get("/api/auth/me", headers=bearer(forged)).status_code == 401

    out = _keys_command(ring_path, "rotate")
    newest = keyring.read_ring(ring_path)[-1]
    assert f"added {newest.kid}" in out and f"{newest.kid}  created" in out

    def signs_with_newest() -> bool:
        with ringed.client() as http:
            return _kid(login(http, email)["accessToken"]) == newest.kid

    wait_until(signs_with_newest, 15, "new tokens to be signed with the rotated-in key")
    with ringed.client() as http:
        assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 200

    out = _keys_command(ring_path, "retire")
    assert f"retired {oldest.kid}" in out
    assert [k.kid for k in keyring.read_ring(ring_path)] == [older.kid, newest.kid]

    def oldest_refused() -> bool:
        with ringed.client() as http:
            return http.get("/api/auth/me", headers=bearer(by_oldest)).status_code == 401

    wait_until(oldest_refused, 15, "tokens of the retired key to be refused")
    with ringed.client() as http:
        assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 200
    assert ringed.server is not None and ringed.server.pid == pid and ringed.server.poll() is None


def test_a_broken_ring_file_is_ignored_until_it_is_fixed(ringed: Stack, ring_path: Path) -> None:
    good = ring_path.read_text()
    with ringed.client() as setup:
        session = register(setup)
    try:
        ring_path.write_text('{"keys": [')
        with ringed.client() as http:
            def noticed() -> bool:  # the ring is looked at when a token is checked
                assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 200
                return "keyring.unreadable" in ringed.server_log()

            wait_until(noticed, 15, "the server to notice the broken file, and go on with the ring it has")
    finally:
        ring_path.write_text(good)


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    # A database nobody listens on: had the check passed, the server would fail later, differently.
    base.update(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", **env)
    return subprocess.run([sys.executable, "-m", "insights", "serve"], env=base, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "problem"), [
    ({}, "built-in development secret"),
    ({"INSIGHTS_AUTH__JWT_SECRET": "s" * 31}, "shorter than 32 bytes"),
    ({"INSIGHTS_ENVIRONMENT": "production", "INSIGHTS_AUTH__JWT_SECRET": "0123456789"}, "shorter than 32 bytes"),
    ({"INSIGHTS_AUTH__JWT_KEYRING_PATH": "/nonexistent/jwt-keys.json"}, "cannot read the JWT key ring"),
])
def test_the_server_refuses_to_start_with_keys_others_could_sign_with(env: dict[str, str], problem: str) -> None:
    done = _serve(env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert problem in done.stderr and "insights serve:" in done.stderr


def test_development_mode_accepts_the_default_secret() -> None:
    done = _serve({"INSIGHTS_ENVIRONMENT": "development"})
    assert done.returncode not in (0, 2) and "refusing to sign tokens" not in done.stderr  # it went on, to the DB


def test_every_deployment_manifest_provides_a_secret_or_a_ring() -> None:
    # docker-compose and Kubernetes run in production mode: each server gets a secret from outside.
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    server = (REPO_ROOT / "deploy" / "kubernetes" / "server.yaml").read_text()
    assert "INSIGHTS_AUTH__JWT_SECRET: ${INSIGHTS_AUTH__JWT_SECRET:?" in compose
    assert "INSIGHTS_AUTH__JWT_SECRET" in server and "secretKeyRef" in server
    assert "INSIGHTS_ENVIRONMENT" not in compose and "INSIGHTS_ENVIRONMENT" not in server
