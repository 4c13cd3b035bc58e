"""Accounts through Envoy, with mail really sent to an SMTP sink and read back: sign-up without enumeration,
password reset, sessions, disabling users, the subset rule, and the session cache's binding to its owner."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import redis

from insights.dev.mailsink import MailSink
from tests.support import (
    NOTICE_SUBJECT,
    RESET_SUBJECT,
    STRONG_PASSWORD,
    VERIFY_SUBJECT,
    Stack,
    bearer,
    claims_of,
    field_violations,
    forge_token,
    login,
    mail_after,
    register,
    unique_email,
    wait_until,
)

NEW_PASSWORD = "N3w-Passphrase-Lamp!"


def _signup(email: str, password: str = STRONG_PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password, "firstName": "Sam", "lastName": "Signup",
            "organizationName": f"Org {uuid.uuid4().hex[:6]}"}


def _create_user(http: httpx.Client, token: str, role: str, permissions: list[str] | None = None,
                 email: str | None = None) -> httpx.Response:
    return http.post("/api/users", headers=bearer(token), json={
        "email": email or unique_email(role), "password": STRONG_PASSWORD, "firstName": "Us", "lastName": "Er",
        "role": role, "permissions": permissions or [],
    })


def _audited(owner_db: psycopg.Connection, action: str, **details: Any) -> int:
    row = owner_db.execute("SELECT count(*) FROM audit_log WHERE action = %s AND details @> %s::jsonb",
                           (action, json.dumps(details))).fetchone()
    return int(row[0]) if row else 0


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _email_hash(email: str) -> str:
    from insights.auth.tokens import sha256_hex

    return sha256_hex(email.lower())


# --- sign-up ------------------------------------------------------------------------------------


def test_sign_up_answers_the_same_for_known_and_new_emails_and_mails_each_owner(
    stack: Stack, mail_sink: MailSink, owner_db: psycopg.Connection
) -> None:
    with stack.client() as setup:
        known = register(setup)["user"]["email"]
    new = unique_email("new")
    with stack.client() as http:
        answers = {email: http.post("/api/auth/register", json=_signup(email, "Attack3r-Chosen-Pass!"))
                   for email in (known, new)}
    assert {e: (r.status_code, r.json()) for e, r in answers.items()} == {
        known: (200, {"status": "verification_sent"}), new: (200, {"status": "verification_sent"})}
    assert set(answers[known].headers) == set(answers[new].headers)

    notice = mail_sink.wait_for(known, NOTICE_SUBJECT)
    assert notice.token is None and "already belongs to an account" in notice.body
    verification = mail_sink.wait_for(new, VERIFY_SUBJECT)
    assert verification.token is not None and verification.token.startswith("ev_")
    # Nothing the requester typed (names, organization) reaches the mailbox.
    assert "Sam" not in verification.body and "Org " not in verification.body
    # The known account is untouched: no new pending sign-up for it, its password still works.
    pending = owner_db.execute("SELECT email FROM pending_registrations WHERE email = ANY(%s) AND used_at IS NULL",
                               ([known, new],)).fetchall()
    assert pending == [(new,)]
    with stack.client() as http:
        assert http.post("/api/auth/login", json={"email": known, "password": STRONG_PASSWORD}).status_code == 200
        assert http.post("/api/auth/login", json={"email": known, "password": "Attack3r-Chosen-Pass!"}
                         ).status_code == 401


def test_no_account_exists_until_the_emailed_link_is_used_once(
    stack: Stack, mail_sink: MailSink, owner_db: psycopg.Connection
) -> None:
    email = unique_email("verify")
    with stack.client() as http:
        link = mail_after(http, email, VERIFY_SUBJECT, lambda: http.post("/api/auth/register", json=_signup(email)))
        assert http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).status_code == 401
    assert owner_db.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone() == (0,)
    with stack.client() as http:
        # Someone who holds the link but not the sign-up's password cannot complete it, and the link survives.
        stranger = http.post("/api/auth/verify-email", json={"token": link.token, "password": "Str4nger-Passw0rd!"})
        assert stranger.status_code == 401
        verified = http.post("/api/auth/verify-email", json={"token": link.token, "password": STRONG_PASSWORD})
        assert verified.status_code == 200, verified.text
        body = verified.json()
        assert body["user"]["email"] == email and body["user"]["role"] == "admin" and body["tokenType"] == "Bearer"
        assert http.get("/api/auth/me", headers=bearer(body["accessToken"])).status_code == 200
        again = http.post("/api/auth/verify-email", json={"token": link.token, "password": STRONG_PASSWORD})
        assert again.status_code == 401 and "verification link" in again.json()["message"]
        assert http.post("/api/auth/verify-email",
                         json={"token": "ev_" + "x" * 43, "password": STRONG_PASSWORD}).status_code == 401
        missing = http.post("/api/auth/verify-email", json={})
        assert missing.status_code == 400 and set(field_violations(missing)) == {"token", "password"}
    with stack.client() as http:
        late = unique_email("late")
        expired = mail_after(http, late, VERIFY_SUBJECT, lambda: http.post("/api/auth/register", json=_signup(late)))
        owner_db.execute("UPDATE pending_registrations SET expires_at = now() - interval '1 second' WHERE email = %s",
                         (late,))
        assert http.post("/api/auth/verify-email",
                         json={"token": expired.token, "password": STRONG_PASSWORD}).status_code == 401
    created = owner_db.execute("SELECT count(*) FROM audit_log WHERE action = 'auth.register' AND actor_id = %s",
                               (body["user"]["id"],)).fetchone()
    assert created == (1,)


# --- password reset -----------------------------------------------------------------------------


def test_password_reset_end_to_end_through_the_mail(
    stack: Stack, mail_sink: MailSink, owner_db: psycopg.Connection
) -> None:
    with stack.client() as setup:
        first = register(setup)
    email = first["user"]["email"]
    with stack.client() as http:
        second = login(http, email)
        ghost = unique_email("ghost")
        answers = [http.post("/api/auth/password-reset", json={"email": e}) for e in (ghost, email)]
        assert [(r.status_code, r.json()) for r in answers] == [(200, {"status": "reset_sent_if_registered"})] * 2
    reset = mail_sink.wait_for(email, RESET_SUBJECT)
    assert reset.token is not None and reset.token.startswith("pr_") and "within 1 hour" in reset.body
    # The unknown address's request has been handled (audited), and it got no mail.
    wait_until(lambda: _audited(owner_db, "auth.password_reset.no_account", email_hash=_email_hash(ghost)) == 1,
               10, "the unknown address's request to be handled")
    assert mail_sink.to(ghost) == []

    with stack.client() as http:
        weak = http.post("/api/auth/password-reset/confirm", json={"token": reset.token, "newPassword": "weak"})
        assert weak.status_code == 400 and "newPassword" in field_violations(weak)
        done = http.post("/api/auth/password-reset/confirm", json={"token": reset.token, "newPassword": NEW_PASSWORD})
        assert done.status_code == 200, done.text
        for session in (first, second):  # every session ended
            assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 401
            assert http.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]}).status_code == 401
        reused = http.post("/api/auth/password-reset/confirm",
                           json={"token": reset.token, "newPassword": "Y3t-Another-Passw0rd!"})
        assert reused.status_code == 401
    with stack.client() as http:
        assert http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).status_code == 401
        assert http.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD}).status_code == 200
        # A link older than an hour is refused.
        stale = mail_after(http, email, RESET_SUBJECT,
                           lambda: http.post("/api/auth/password-reset", json={"email": email}))
    owner_db.execute("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'"
                     " WHERE user_id = %s AND used_at IS NULL", (first["user"]["id"],))
    with stack.client() as http:
        expired = http.post("/api/auth/password-reset/confirm",
                            json={"token": stale.token, "newPassword": "Y3t-Another-Passw0rd!"})
        assert expired.status_code == 401
    actions = [row[0] for row in owner_db.execute(
        "SELECT action FROM audit_log WHERE actor_id = %s AND action LIKE 'auth.password_reset%%' ORDER BY id",
        (first["user"]["id"],)).fetchall()]
    assert actions == ["auth.password_reset.requested", "auth.password_reset", "auth.password_reset.requested"]


# --- sessions -----------------------------------------------------------------------------------


def test_list_sessions_and_revoke_one_or_all(stack: Stack) -> None:
    with stack.client() as setup:
        current = register(setup)
    email = current["user"]["email"]
    with stack.client() as http:
        phone = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD},
                          headers={"user-agent": "InsightsPhone/2.1"}).json()
        laptop = login(http, email)
        me = bearer(current["accessToken"])
        listed = http.get("/api/auth/sessions", headers=me)
        assert listed.status_code == 200, listed.text
        sessions = {s["id"]: s for s in listed.json()["sessions"]}
        ids = {name: claims_of(tokens["accessToken"])["sid"] for name, tokens in
               (("current", current), ("phone", phone), ("laptop", laptop))}
        assert set(sessions) == set(ids.values())
        assert [s["id"] for s in sessions.values() if s.get("current")] == [ids["current"]]
        assert "InsightsPhone/2.1" in sessions[ids["phone"]]["userAgent"]
        for s in sessions.values():
            assert s["clientIp"].startswith("127.")
            assert _at(s["createdAt"]) <= _at(s["lastUsedAt"]) < _at(s["expiresAt"])

        # Using a session (a refresh) moves its last use; it stays the same session.
        before = _at(sessions[ids["phone"]]["lastUsedAt"])
        phone = http.post("/api/auth/refresh", json={"refreshToken": phone["refreshToken"]}).json()
        after = {s["id"]: s for s in http.get("/api/auth/sessions", headers=me).json()["sessions"]}
        assert _at(after[ids["phone"]]["lastUsedAt"]) > before
        assert claims_of(phone["accessToken"])["sid"] == ids["phone"]

        first_page = http.get("/api/auth/sessions?pageSize=2", headers=me).json()
        rest = http.get(f"/api/auth/sessions?pageSize=2&pageToken={first_page['nextPageToken']}", headers=me).json()
        assert len(first_page["sessions"]) == 2 and len(rest["sessions"]) == 1 and not rest.get("nextPageToken")
        assert {s["id"] for s in first_page["sessions"] + rest["sessions"]} == set(ids.values())

        # Revoke one: its tokens stop at once, the others go on.
        assert http.delete(f"/api/auth/sessions/{ids['phone']}", headers=me).status_code == 200
        assert http.get("/api/auth/me", headers=bearer(phone["accessToken"])).status_code == 401
        assert http.get("/api/auth/me", headers=bearer(laptop["accessToken"])).status_code == 200
        assert http.delete(f"/api/auth/sessions/{ids['phone']}", headers=me).status_code == 404
        assert http.delete(f"/api/auth/sessions/{uuid.uuid4()}", headers=me).status_code == 404
        assert http.delete("/api/auth/sessions/not-a-uuid", headers=me).status_code == 400
    with stack.client() as http:
        assert http.post("/api/auth/refresh", json={"refreshToken": phone["refreshToken"]}).status_code == 401
        # Everything but this one, then everything.
        kept = http.post("/api/auth/sessions:revokeAll", headers=me, json={"keepCurrent": True})
        assert kept.status_code == 200 and kept.json() == {"revoked": 1}
        assert http.get("/api/auth/me", headers=bearer(laptop["accessToken"])).status_code == 401
        assert http.get("/api/auth/me", headers=me).status_code == 200
        assert [s["id"] for s in http.get("/api/auth/sessions", headers=me).json()["sessions"]] == [ids["current"]]
        assert http.post("/api/auth/sessions:revokeAll", headers=me, json={}).json() == {"revoked": 1}
        assert http.get("/api/auth/me", headers=me).status_code == 401


def test_a_users_sessions_are_theirs_alone(stack: Stack) -> None:
    with stack.client() as setup:
        admin, other = register(setup), register(setup)
    with stack.client() as http:
        key = http.post("/api/api-keys", headers=bearer(admin["accessToken"]),
                        json={"name": "machine", "permissions": ["insights:read"]}).json()["secret"]
        assert http.get("/api/auth/sessions", headers={"x-api-key": key}).status_code == 403
        theirs = claims_of(other["accessToken"])["sid"]
        assert http.delete(f"/api/auth/sessions/{theirs}", headers=bearer(admin["accessToken"])).status_code == 404
        assert http.get("/api/auth/me", headers=bearer(other["accessToken"])).status_code == 200


# --- disabling users ----------------------------------------------------------------------------


def test_disabling_a_user_ends_every_session_at_once(
    stack: Stack, mail_sink: MailSink, owner_db: psycopg.Connection
) -> None:
    with stack.client() as setup:
        admin = register(setup)
    token = bearer(admin["accessToken"])
    with stack.client() as http:
        created = _create_user(http, admin["accessToken"], "analyst")
        assert created.status_code == 200, created.text
        user = created.json()["user"]
        assert user["active"] is True
        one, two = login(http, user["email"]), login(http, user["email"])
        for session in (one, two):
            assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 200

        disabled = http.post(f"/api/users/{user['id']}:disable", headers=token, json={})
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["user"]["active"] is False
        for session in (one, two):  # the very next call of either device is refused
            assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 401
    with stack.client() as http:
        for session in (one, two):
            assert http.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]}).status_code == 401
        refused = http.post("/api/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
        assert refused.status_code == 401 and refused.json()["message"] == "Invalid credentials"
        # No reset link for a disabled account (and the same answer as always).
        assert http.post("/api/auth/password-reset", json={"email": user["email"]}).status_code == 200
    wait_until(lambda: _audited(owner_db, "auth.password_reset.no_account", email_hash=_email_hash(user["email"])) == 1,
               10, "the reset request to be handled")
    assert mail_sink.to(user["email"]) == []
    with stack.client() as http:
        listed = {u["id"]: u for u in http.get("/api/users", headers=token).json()["users"]}
        assert listed[user["id"]]["active"] is False
        enabled = http.post(f"/api/users/{user['id']}:enable", headers=token, json={})
        assert enabled.status_code == 200 and enabled.json()["user"]["active"] is True
        again = login(http, user["email"])
        assert http.get("/api/auth/me", headers=bearer(again["accessToken"])).status_code == 200
        assert http.get("/api/auth/me", headers=bearer(one["accessToken"])).status_code == 401  # still over

        assert http.post(f"/api/users/{admin['user']['id']}:disable", headers=token, json={}).status_code == 403
        assert http.post(f"/api/users/{uuid.uuid4()}:disable", headers=token, json={}).status_code == 404
        assert http.post("/api/users/nope:disable", headers=token, json={}).status_code == 400
    actions = [row[0] for row in owner_db.execute(
        "SELECT action FROM audit_log WHERE resource_id = %s AND action LIKE 'user.%%' ORDER BY id",
        (user["id"],)).fetchall()]
    assert actions == ["user.created", "user.disabled", "user.enabled"]


# --- the subset rule ----------------------------------------------------------------------------


def test_nobody_grants_what_they_do_not_hold(stack: Stack, owner_db: psycopg.Connection) -> None:
    with stack.client() as setup:
        admin = register(setup)
    with stack.client() as http:
        manager_email = unique_email("manager")
        assert _create_user(http, admin["accessToken"], "analyst", ["users:manage"], manager_email).status_code == 200
        manager = login(http, manager_email)
        as_manager = manager["accessToken"]
        # An analyst who may manage users makes analysts and viewers, never an admin or anyone with more.
        escalation = _create_user(http, as_manager, "admin")
        assert escalation.status_code == 403, escalation.text
        assert "apikeys:manage" in escalation.json()["message"] and "customers:manage" in escalation.json()["message"]
        assert _create_user(http, as_manager, "viewer", ["customers:manage"]).status_code == 403
        assert _create_user(http, as_manager, "analyst", ["users:manage"]).status_code == 200
        assert _create_user(http, as_manager, "viewer").status_code == 200
        assert http.post(f"/api/users/{admin['user']['id']}:disable", headers=bearer(as_manager), json={}
                         ).status_code == 403
        assert http.get("/api/auth/me", headers=bearer(admin["accessToken"])).status_code == 200

        # A key that may only manage users cannot even make a viewer (it holds no insights:read).
        key = http.post("/api/api-keys", headers=bearer(admin["accessToken"]),
                        json={"name": "provisioning", "permissions": ["users:manage"]}).json()["secret"]
        denied = http.post("/api/users", headers={"x-api-key": key}, json={
            "email": unique_email(), "password": STRONG_PASSWORD, "firstName": "K", "lastName": "Ey", "role": "viewer"})
        assert denied.status_code == 403 and "insights:read" in denied.json()["message"]
        # A key that manages keys hands out only what it holds itself.
        keymaker = http.post("/api/api-keys", headers=bearer(admin["accessToken"]),
                             json={"name": "keymaker", "permissions": ["apikeys:manage", "data:ingest"]}
                             ).json()["secret"]
        ok = http.post("/api/api-keys", headers={"x-api-key": keymaker},
                       json={"name": "ingest", "permissions": ["data:ingest"]})
        assert ok.status_code == 200, ok.text
        assert http.post("/api/api-keys", headers={"x-api-key": keymaker},
                         json={"name": "more", "permissions": ["data:ingest", "data:write"]}).status_code == 403
        unknown = http.post("/api/api-keys", headers={"x-api-key": keymaker},
                            json={"name": "x", "permissions": ["root"]})
        assert unknown.status_code == 400 and "permissions[0]" in field_violations(unknown)
    denials = owner_db.execute(
        "SELECT details->>'action' FROM audit_log WHERE action = 'authz.denied' AND organization_id = %s"
        " AND details ? 'missing' ORDER BY id", (admin["user"]["organizationId"],)).fetchall()
    assert [d[0] for d in denials] == ["create a user"] * 2 + ["disable a user", "create a user", "create an API key"]


# --- the session cache binds a session to its owner ---------------------------------------------


def test_a_session_id_vouches_only_for_its_own_user_and_organization(
    stack: Stack, redis_url: str, redis_key_prefix: str
) -> None:
    with stack.client() as setup:
        admin, stranger = register(setup), register(setup)
    with stack.client() as http:
        colleague_email = unique_email("colleague")
        colleague = _create_user(http, admin["accessToken"], "admin", email=colleague_email).json()["user"]
        claims = claims_of(admin["accessToken"])
        as_colleague = {**claims, "sub": colleague["id"], "jti": uuid.uuid4().hex}
        in_other_org = {**claims, "org": stranger["user"]["organizationId"], "sub": stranger["user"]["id"],
                        "jti": uuid.uuid4().hex}
        # Cached path: the admin's session state is in the cache after a genuine call.
        assert http.get("/api/auth/me", headers=bearer(admin["accessToken"])).status_code == 200
        for forged in (as_colleague, in_other_org):
            assert http.get("/api/auth/me", headers=bearer(forge_token(forged))).status_code == 401

        # Cache-miss path: a fresh session whose first call is a forged one. It is refused, and the genuine
        # token still works: the entry written is the session's true owner, not the forger's claim.
        fresh = login(http, admin["user"]["email"])
        sid = claims_of(fresh["accessToken"])["sid"]
        forged_first = {**claims_of(fresh["accessToken"]), "sub": colleague["id"], "jti": uuid.uuid4().hex}
        assert http.get("/api/auth/me", headers=bearer(forge_token(forged_first))).status_code == 401
        assert http.get("/api/auth/me", headers=bearer(fresh["accessToken"])).status_code == 200
        cached = redis.Redis.from_url(redis_url, decode_responses=True).get(f"{redis_key_prefix}sess:{sid}")
        assert cached is not None
        assert json.loads(cached) == {"u": admin["user"]["id"], "o": admin["user"]["organizationId"], "v": 0}


def test_tokens_only_in_the_header_kid_of_a_known_key_are_accepted(stack: Stack) -> None:
    with stack.client() as setup:
        claims = claims_of(register(setup)["accessToken"])
    now = int(time.time())
    with stack.client() as http:
        assert http.get("/api/auth/me", headers=bearer(forge_token(claims))).status_code == 200
        for kid in ("k-not-in-the-ring", ""):
            forged = forge_token({**claims, "iat": now}, kid=kid or None, secret="x" * 40)
            assert http.get("/api/auth/me", headers=bearer(forged)).status_code == 401
        assert http.get("/api/auth/me", headers=bearer(forge_token(claims, kid="k-not-in-the-ring"))
                        ).status_code == 401
