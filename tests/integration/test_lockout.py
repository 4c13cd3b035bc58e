"""Sign-in throttling through Envoy: guessing is stopped, but nobody can lock someone else out.

A stack of its own, with the per-address auth rate limit raised (so that one address can fail ten times
within a minute, as it could within fifteen) and a long first delay (so that whether a delay is in force
never depends on how fast this machine runs the test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import (
    RESET_SUBJECT,
    STRONG_PASSWORD,
    Stack,
    bearer,
    mail_after,
    next_client_ip,
    register,
    unique_email,
)

NEW_PASSWORD = "Fresh-Start-Pass-42!"


@pytest.fixture(scope="module")
def guarded(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(database_url, redis_url, tmp_path_factory.mktemp("lockout-stack"), extra_env={
        "INSIGHTS_RATE_LIMIT__AUTH_IP_PER_MINUTE": "1000", "INSIGHTS_AUTH__THROTTLE_BASE_DELAY_S": "600",
        "INSIGHTS_WORKER__ENABLED": "false",
    }).start()
    yield stack
    stack.stop()


def _login(stack: Stack, email: str, password: str, ip: str | None = None) -> tuple[int, str, int]:
    """(status, message, retry-after or 0) of one sign-in from ``ip`` (default: an address of its own)."""
    with stack.client(ip) as http:
        response = http.post("/api/auth/login", json={"email": email, "password": password})
    return response.status_code, response.json().get("message", ""), int(response.headers.get("retry-after", 0))


def _fail(stack: Stack, email: str, times: int, ip: str | None = None) -> None:
    for attempt in range(times):
        status, message, _ = _login(stack, email, f"Wrong-Guess-{attempt}-!", ip)
        assert (status, message) == (401, "Invalid credentials")


def test_a_guessing_address_locks_only_itself_out(guarded: Stack) -> None:
    with guarded.client() as setup:
        session = register(setup)
    email = session["user"]["email"]
    home = next_client_ip()
    assert _login(guarded, email, STRONG_PASSWORD, home)[0] == 200  # the owner signs in from home once

    attacker = next_client_ip()
    _fail(guarded, email, 10, attacker)
    status, message, retry = _login(guarded, email, STRONG_PASSWORD, attacker)  # even the right password
    assert (status, "try again later" in message) == (401, True) and 600 < retry <= 900  # locked: 15 minutes

    # Ten failures for the email in all: a source the account never signed in from now waits the delay...
    status, message, retry = _login(guarded, email, STRONG_PASSWORD)
    assert status == 401 and "try again later" in message and 0 < retry <= 600
    # ...while the owner at home signs in at once, and a signed-in device keeps its session.
    assert _login(guarded, email, STRONG_PASSWORD, home)[0] == 200
    with guarded.client() as http:
        refreshed = http.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]})
        assert refreshed.status_code == 200
        assert http.get("/api/auth/me", headers=bearer(refreshed.json()["accessToken"])).status_code == 200


def test_guessing_spread_over_addresses_is_slowed_and_a_reset_lifts_it(guarded: Stack) -> None:
    with guarded.client() as setup:
        email = register(setup)["user"]["email"]
    _fail(guarded, email, 10)  # each from an address of its own: no address is locked
    status, message, retry = _login(guarded, email, STRONG_PASSWORD)
    assert status == 401 and "try again later" in message and 0 < retry <= 600
    status, message, _ = _login(guarded, email, "Wrong-Again-0000!")
    assert status == 401 and "try again later" in message  # no password is even checked

    with guarded.client() as http:
        reset = mail_after(http, email, RESET_SUBJECT,
                           lambda: http.post("/api/auth/password-reset", json={"email": email}))
        confirmed = http.post("/api/auth/password-reset/confirm",
                              json={"token": reset.token, "newPassword": NEW_PASSWORD})
        assert confirmed.status_code == 200, confirmed.text
    assert _login(guarded, email, NEW_PASSWORD)[0] == 200  # from anywhere, at once


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(guarded: Stack) -> None:
    with guarded.client() as setup:
        known = register(setup)["user"]["email"]
    answers = []
    for email in (known, unique_email("ghost")):
        attacker = next_client_ip()
        _fail(guarded, email, 10, attacker)
        status, message, retry = _login(guarded, email, STRONG_PASSWORD, attacker)
        answers.append((status, message, retry > 600))
    assert answers[0] == answers[1] == (401, "Too many failed sign-in attempts; try again later", True)
