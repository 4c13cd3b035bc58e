"""Tenant isolation holds in the database itself (row-level security), not only in the queries."""

from __future__ import annotations

import psycopg
import pytest

from insights.infra.db import app_conninfo
from insights.settings import Settings
from tests.support import STRONG_PASSWORD, Stack, bearer, register, unique_email


def _app_connection(database_url: str) -> psycopg.Connection:
    """Connects exactly as the server does: the application role, which owns no table."""
    return psycopg.connect(app_conninfo(Settings(database_url=database_url)), autocommit=True)


def test_org_a_cannot_see_org_b_users_even_without_a_filter(stack: Stack, database_url: str) -> None:
    with stack.client() as http:
        org_a = register(http, org="Org A")
        org_b = register(http, org="Org B")
        extra = http.post(
            "/api/users",
            headers=bearer(org_b["accessToken"]),
            json={
                "email": unique_email("b2"),
                "password": STRONG_PASSWORD,
                "firstName": "B",
                "lastName": "Two",
                "role": "analyst",
            },
        )
        assert extra.status_code == 200
    a_id, b_org = org_a["user"]["organizationId"], org_b["user"]["organizationId"]

    with _app_connection(database_url) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.organization_id', %s, true)", (a_id,))
        # A hand-written query that forgets the organization filter entirely:
        rows = conn.execute("SELECT email, organization_id::text FROM users").fetchall()
        assert rows == [(org_a["user"]["email"], a_id)]
        assert conn.execute("SELECT count(*) FROM users WHERE organization_id = %s", (b_org,)).fetchone() == (
            0,
        )
        assert conn.execute("SELECT count(*) FROM organizations").fetchone() == (1,)
        # Another tenant's rows cannot be changed (they are invisible) nor created.
        updated = conn.execute(
            "UPDATE users SET first_name = 'x' WHERE organization_id = %s RETURNING id", (b_org,)
        )
        assert updated.fetchall() == []
    with _app_connection(database_url) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.organization_id', %s, true)", (a_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO customers (organization_id, external_id, first_seen_at, last_seen_at)"
                " VALUES (%s, 'x', now(), now())",
                (b_org,),
            )

    with _app_connection(database_url) as conn:
        # No tenant set: nothing is visible at all.
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_the_application_role_cannot_bypass_rls(database_url: str, stack: Stack) -> None:
    with _app_connection(database_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
        ).fetchone()
        assert owned == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")


def test_audit_log_is_append_only(database_url: str, stack: Stack, owner_db: psycopg.Connection) -> None:
    with stack.client() as http:
        register(http)
    with _app_connection(database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM audit_log")
    with pytest.raises(psycopg.errors.RaiseException):
        owner_db.execute("UPDATE audit_log SET action = 'rewritten'")


def test_org_a_api_sees_only_its_users(stack: Stack) -> None:
    with stack.client() as http:
        org_a = register(http)
        register(http)
        users = http.get("/api/users", headers=bearer(org_a["accessToken"])).json()
    assert [u["email"] for u in users["users"]] == [org_a["user"]["email"]]
