"""Authentication and authorization through Envoy's REST surface."""

from __future__ import annotations

import time

import psycopg

from tests.support import (
    STRONG_PASSWORD,
    Stack,
    bearer,
    claims_of,
    field_violations,
    forge_token,
    register,
    unique_email,
    unsigned_token,
)


def test_register_login_refresh_me(stack: Stack) -> None:
    with stack.client() as http:
        email = unique_email()
        registered = register(http, email=email)
        assert registered["user"]["email"] == email
        assert registered["user"]["role"] == "admin"
        assert registered["tokenType"] == "Bearer" and registered["expiresIn"] == "3600"

        login = http.post("/api/auth/login", json={"email": email.upper(), "password": STRONG_PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()
        claims = claims_of(tokens["accessToken"])
        assert claims["exp"] - claims["iat"] == 3600 and claims["jti"] and "ver" in claims

        refreshed = http.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refreshToken"] != tokens["refreshToken"]

        me = http.get("/api/auth/me", headers=bearer(refreshed.json()["accessToken"]))
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == email
        assert "users:manage" in me.json()["user"]["permissions"]


def _valid_claims(stack: Stack) -> dict[str, object]:
    with stack.client() as http:
        return claims_of(register(http)["accessToken"])


def test_bad_tokens_get_401(stack: Stack) -> None:
    claims = _valid_claims(stack)
    good = forge_token(claims)
    header, payload, signature = good.split(".")
    tampered_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    now = int(time.time())
    bad_tokens = {
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "expired": forge_token({**claims, "iat": now - 7200, "exp": now - 3600}),
        "alg none": unsigned_token(claims),
        "wrong secret": forge_token(claims, secret="not-the-server-secret-0123456789abcdef"),
        "garbage": "not-a-jwt",
    }
    with stack.client() as http:
        assert http.get("/api/auth/me", headers=bearer(good)).status_code == 200
        for name, token in bad_tokens.items():
            response = http.get("/api/auth/me", headers=bearer(token))
            assert response.status_code == 401, (name, response.text)
        assert http.get("/api/auth/me").status_code == 401
        expired = http.get("/api/auth/me", headers=bearer(bad_tokens["expired"]))
        assert expired.json()["message"] == "Token expired"


def test_viewer_calling_admin_method_gets_403(stack: Stack, owner_db: psycopg.Connection) -> None:
    with stack.client() as http:
        admin = register(http)
        email = unique_email("viewer")
        created = http.post(
            "/api/users",
            headers=bearer(admin["accessToken"]),
            json={
                "email": email,
                "password": STRONG_PASSWORD,
                "firstName": "Vi",
                "lastName": "Ewer",
                "role": "viewer",
            },
        )
        assert created.status_code == 200, created.text
        assert created.json()["user"]["role"] == "viewer"
        viewer = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
        assert http.get("/api/auth/me", headers=bearer(viewer["accessToken"])).status_code == 200
        denied = http.get("/api/users", headers=bearer(viewer["accessToken"]))
        assert denied.status_code == 403, denied.text
        allowed = http.get("/api/users", headers=bearer(admin["accessToken"]))
        assert allowed.status_code == 200 and allowed.json()["total"] == "2"
    audited = owner_db.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'authz.denied' AND actor_id = %s",
        (viewer["user"]["id"],),
    ).fetchone()
    assert audited == (1,)


def test_reused_rotated_refresh_token_revokes_the_family(stack: Stack) -> None:
    with stack.client() as http:
        first = register(http)
        second = http.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]}).json()
        assert http.get("/api/auth/me", headers=bearer(second["accessToken"])).status_code == 200

        replay = http.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
        assert replay.status_code == 401
        # The whole session is gone: the newest refresh token and the access tokens it produced.
        assert (
            http.post("/api/auth/refresh", json={"refreshToken": second["refreshToken"]}).status_code == 401
        )
        assert http.get("/api/auth/me", headers=bearer(second["accessToken"])).status_code == 401


def test_sixth_login_in_a_minute_from_one_ip_gets_429_with_headers(stack: Stack) -> None:
    with stack.client() as setup:
        email = register(setup)["user"]["email"]
    with stack.client() as http:  # a fresh address: its auth budget is untouched
        answers = [
            http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}) for _ in range(6)
        ]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert answers[4].headers["x-ratelimit-remaining"] == "0"
    limited = answers[5]
    assert limited.headers["x-ratelimit-limit"] == "5"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 60
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert "Rate limit exceeded" in limited.json()["message"]


def test_unknown_email_and_wrong_password_get_the_same_answer(stack: Stack) -> None:
    with stack.client() as setup:
        email = register(setup)["user"]["email"]
    with stack.client() as http:
        wrong = http.post("/api/auth/login", json={"email": email, "password": "Wrong-Passw0rd!!"})
        unknown = http.post(
            "/api/auth/login", json={"email": unique_email("ghost"), "password": "Wrong-Passw0rd!!"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"] == "Invalid credentials"


def test_invalid_body_gets_400_with_field_violations(stack: Stack) -> None:
    with stack.client() as http:
        response = http.post(
            "/api/auth/register",
            json={
                "email": "not-an-email",
                "password": "short",
                "firstName": "",
                "lastName": "X",
                "organizationName": "Org",
            },
        )
        assert response.status_code == 400
        violations = field_violations(response)
        assert set(violations) == {"email", "password", "firstName"}
        assert "12 characters" in violations["password"]

        common = http.post(
            "/api/auth/register",
            json={
                "email": unique_email(),
                "password": "Password123!!",
                "firstName": "A",
                "lastName": "B",
                "organizationName": "Org",
            },
        )
        assert common.status_code == 400 and "common password" in field_violations(common)["password"]

        wrong_type = http.post("/api/auth/login", json={"email": ["a"], "password": 5})
        assert wrong_type.status_code == 400
        malformed = http.post(
            "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400


def test_unknown_path_gets_404_not_503(stack: Stack) -> None:
    with stack.client() as http:
        assert http.get("/api/no/such/path").status_code == 404
        assert http.post("/api/auth/nope", json={}).status_code == 404


def test_query_methods_need_credentials_and_answer_after_auth(stack: Stack) -> None:
    with stack.client() as http:
        admin = register(http)
        assert http.get("/api/insights/trends").status_code == 401
        response = http.get("/api/insights/trends", headers=bearer(admin["accessToken"]))
        assert response.status_code == 200, response.text
        assert len(response.json()["points"]) == 30  # the last 30 local days, empty ones included


def test_logout_revokes_access_and_refresh_tokens(stack: Stack) -> None:
    with stack.client() as http:
        session = register(http)
        assert (
            http.post("/api/auth/logout", headers=bearer(session["accessToken"]), json={}).status_code == 200
        )
        assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 401
        assert (
            http.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]}).status_code == 401
        )


def test_password_change_ends_every_session(stack: Stack) -> None:
    with stack.client() as http:
        first = register(http)
        email = first["user"]["email"]
        second = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
        new_password = "An0ther-Strong-Pass!"
        changed = http.post(
            "/api/auth/password",
            headers=bearer(first["accessToken"]),
            json={"currentPassword": STRONG_PASSWORD, "newPassword": new_password},
        )
        assert changed.status_code == 200, changed.text
        for session in (first, second):
            assert http.get("/api/auth/me", headers=bearer(session["accessToken"])).status_code == 401
            assert (
                http.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]}).status_code
                == 401
            )
    with stack.client() as http:  # a fresh address: the first one spent its five auth calls
        relogin = http.post("/api/auth/login", json={"email": email, "password": new_password})
        assert relogin.status_code == 200
        assert http.get("/api/auth/me", headers=bearer(relogin.json()["accessToken"])).status_code == 200


def test_api_keys_authenticate_machine_clients(stack: Stack) -> None:
    with stack.client() as http:
        admin = register(http)
        created = http.post(
            "/api/api-keys",
            headers=bearer(admin["accessToken"]),
            json={"name": "event pipeline", "permissions": ["data:ingest"]},
        )
        assert created.status_code == 200, created.text
        secret, key_id = created.json()["secret"], created.json()["apiKey"]["id"]
        key = {"x-api-key": secret}
        # Permitted: passes authentication and authorization, then fails validation (an empty event).
        assert http.post("/api/data/ingest", headers=key, json={}).status_code == 400
        assert http.get("/api/users", headers=key).status_code == 403
        assert http.get("/api/users", headers={"x-api-key": secret + "x"}).status_code == 401
        listed = http.get("/api/api-keys", headers=bearer(admin["accessToken"])).json()["apiKeys"]
        assert [k["prefix"] for k in listed] == [created.json()["apiKey"]["prefix"]]
        assert secret not in str(listed)
        assert "lastUsedAt" not in created.json()["apiKey"] and listed[0]["lastUsedAt"], "its use is recorded"
        too_much = http.post(
            "/api/api-keys", headers=bearer(admin["accessToken"]), json={"name": "x", "permissions": ["root"]}
        )
        assert too_much.status_code == 400 and "permissions[0]" in field_violations(too_much)
        assert http.delete(f"/api/api-keys/{key_id}", headers=bearer(admin["accessToken"])).status_code == 200
        assert http.post("/api/data/ingest", headers=key, json={}).status_code == 401


def test_every_auth_event_is_audited(stack: Stack, owner_db: psycopg.Connection) -> None:
    with stack.client() as http:
        session = register(http)
        email = session["user"]["email"]
        http.post("/api/auth/login", json={"email": email, "password": "Wrong-Passw0rd!!"})
        login = http.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}).json()
        http.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
        http.post("/api/auth/logout", headers=bearer(session["accessToken"]), json={})
    actions = [
        row[0]
        for row in owner_db.execute(
            "SELECT action FROM audit_log WHERE actor_id = %s ORDER BY id", (session["user"]["id"],)
        ).fetchall()
    ]
    # The sign-up itself (before the email was verified) has no actor yet: "auth.register" is its completion.
    assert actions == [
        "auth.register",
        "auth.login.failed",
        "auth.login.succeeded",
        "auth.refresh",
        "auth.logout",
    ]
    entry = owner_db.execute(
        "SELECT client_ip, request_id FROM audit_log WHERE actor_id = %s AND action = 'auth.register'",
        (session["user"]["id"],),
    ).fetchone()
    assert entry is not None and entry[0].startswith("127.") and entry[0] != "127.0.0.1" and entry[1]
